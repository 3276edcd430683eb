import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { embeddedTestEnv, eventually } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';
import { get } from '../support/local.js';

/** Embedded mode acting as three load balancers of two routing slots each, with real tenant processes. */
describe('embedded mode over several routing shards', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    const tables = await createTestTables();
    embedded = await startEmbedded(
      { ...embeddedTestEnv(tables), DORMOUSE_SHARDS: '3', DORMOUSE_MAX_ACTIVE_TENANTS: '2', DORMOUSE_SWEEP_SECONDS: '3600' },
      { onError: () => {} },
    );
    call = apiClient(embedded.apiUrl);
  }, 60_000);

  afterAll(async () => {
    await embedded?.stop();
  });

  const statusOf = async (id: string) => (await call(`/tenants/${id}`)).body as { phase: string; shard?: number };
  const signUp = async (slug: string) => {
    const { body } = await call('/tenants', { method: 'POST', body: { slug, email: `ann@${slug}.test` } });
    tokens.set(slug, body.token as string);
  };
  const running = (slug: string) =>
    eventually(
      `${slug} running`,
      () => statusOf(slug),
      (status) => status.phase === 'Running',
      45_000,
    );

  it('runs six tenants at once, two on each shard, each served and showing its shard; a seventh waits Queued', async () => {
    const six = ['s-one', 's-two', 's-three', 's-four', 's-five', 's-six'];
    for (const slug of six) await signUp(slug);

    const statuses = [];
    for (const slug of six) statuses.push(await running(slug));

    expect(statuses.map((status) => status.shard).sort()).toEqual([0, 0, 1, 1, 2, 2]);
    const gateway = new URL(embedded.gatewayUrl).host;
    for (const slug of six) expect((await get(gateway, '/', { host: `${slug}.localhost` })).status).toBe(200);

    await signUp('s-seven');
    await eventually(
      's-seven queued',
      () => statusOf('s-seven'),
      (status) => status.phase === 'Queued',
      20_000,
    );
  }, 120_000);

  it("answers the waking page, from the wake function behind another shard's load balancer, to a visitor whose DNS names the wrong shard", async () => {
    const { shard } = await statusOf('s-one');
    const other = new URL(embedded.shardGatewayUrls[(shard! + 1) % 3]!);
    const own = new URL(embedded.shardGatewayUrls[shard!]!);

    const wrong = await get(other.host, '/', { host: `s-one.localhost:${other.port}` });
    const right = await get(own.host, '/', { host: `s-one.localhost:${own.port}` });

    expect(embedded.shardGatewayUrls).toHaveLength(3);
    expect(wrong.status).toBe(503);
    expect(wrong.headers['retry-after']).toBe('5');
    expect(wrong.body).toContain('s-one');
    expect(right.status).toBe(200);
    expect((await statusOf('s-one')).phase).toBe('Running');
  });

  it('starts the queued tenant on the shard that a tenant going to sleep frees', async () => {
    const freed = (await statusOf('s-three')).shard;
    expect((await call('/tenants/s-three/passivate', { method: 'POST', token: tokens.get('s-three')! })).status).toBe(202);

    const started = await running('s-seven');

    expect(started.shard).toBe(freed);
    expect((await statusOf('s-three')).phase).toBe('Passivated');
  }, 90_000);
});
