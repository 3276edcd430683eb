import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { eventually, startTestEmbedded, TEST_ADMIN_TOKEN } from '../support/api-server.js';
import { apiClient } from '../support/http.js';

/** A request to the gateway as `curl -H 'Host: <host>'` sends it (fetch cannot set Host). */
function viaGateway(gatewayUrl: string, host: string, path: string) {
  const url = new URL(gatewayUrl);
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A tenant's timeline and logs over the local HTTP API, with real tenant processes. */
describe('tenant timeline and logs in embedded mode', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  let acmeToken: string;
  let globexToken: string;

  beforeAll(async () => {
    ({ embedded } = await startTestEmbedded());
    call = apiClient(embedded.apiUrl);
    acmeToken = (await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'ann@acme.test' } })).body.token;
    globexToken = (await call('/tenants', { method: 'POST', body: { slug: 'globex', email: 'hank@globex.test' } })).body.token;
    await eventually(
      'acme running',
      async () => (await call('/tenants/acme')).body.phase,
      (phase) => phase === 'Running',
    );
  });

  afterAll(async () => {
    await embedded?.stop();
  });

  it("serves the token holder its tenant's transitions, oldest first, without task ids", async () => {
    const { status, body } = await eventually(
      'acme’s timeline up to Running',
      () => call('/tenants/acme/events', { token: acmeToken }),
      (answer) => answer.body.events?.at(-1)?.phase === 'Running',
    );

    expect(status).toBe(200);
    expect(body.events[0]).toEqual({ at: expect.any(String), phase: 'Pending', desired: 'running', plan: 'trial' });
    expect(body.events.at(-1)).toMatchObject({ phase: 'Running', desired: 'running', capacity: 'spot' });
    const times = body.events.map((event: { at: string }) => event.at);
    expect(times).toEqual([...times].sort());
    expect(JSON.stringify(body)).not.toMatch(/task|arn:/);
  });

  it('serves the lines the tenant printed, and the ones after a `next`, to the token holder', async () => {
    expect(await viaGateway(embedded.gatewayUrl, 'acme.localhost', '/whoami?first')).toBe(200);
    const first = await eventually(
      'the first request in acme’s logs',
      () => call('/tenants/acme/logs', { token: acmeToken }),
      (answer) => answer.body.lines?.some((line: { message: string }) => line.message.startsWith('GET /whoami?first 200')),
    );
    expect(first.status).toBe(200);
    expect(first.body.lines.at(-1)).toEqual({
      at: expect.any(String),
      stream: 'stdout',
      message: expect.stringMatching(/^GET \/whoami\?first 200/),
    });

    expect(await viaGateway(embedded.gatewayUrl, 'acme.localhost', '/whoami?second')).toBe(200);
    const after = await eventually(
      'the second request after `next`',
      () => call(`/tenants/acme/logs?next=${encodeURIComponent(first.body.next)}`, { token: acmeToken }),
      (answer) => answer.body.lines?.length > 0,
    );

    expect(after.body.lines.map((line: { message: string }) => line.message)).toEqual([expect.stringMatching(/^GET \/whoami\?second 200/)]);
    // The gateway checks the tenant's health every second: those requests are not logged.
    const all = await call('/tenants/acme/logs?limit=1000', { token: acmeToken });
    expect(all.body.lines.filter((line: { message: string }) => line.message.startsWith('GET / '))).toEqual([]);
  });

  it('keeps the logs beside the data directory, never in what the app sees as DATA_DIR', async () => {
    const dataDir = join(embedded.tenantData!.dir, 'acme');

    expect(readdirSync(dataDir)).not.toContain('output.log');
    expect(existsSync(join(embedded.tenantData!.dir, '..', 'logs', 'acme', 'output.log'))).toBe(true);
  });

  it('refuses another tenant’s token and anonymous callers; admins read any tenant', async () => {
    for (const path of ['/tenants/acme/events', '/tenants/acme/logs']) {
      expect((await call(path, { token: globexToken })).status, path).toBe(403);
      expect((await call(path)).status, path).toBe(401);
      expect((await call(path, { token: TEST_ADMIN_TOKEN })).status, path).toBe(200);
      expect((await call(`/admin${path}`, { token: TEST_ADMIN_TOKEN })).status, path).toBe(200);
    }
    expect((await call('/tenants/nobody/events', { token: TEST_ADMIN_TOKEN })).status).toBe(404);
  });

  it('says what is wrong with a bad query', async () => {
    const bad = await call('/tenants/acme/logs?limit=0&since=yesterday', { token: acmeToken });
    const badNext = await call('/tenants/acme/logs?next=somewhere', { token: acmeToken });

    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toMatchObject({ limit: expect.any(String), since: expect.any(String) });
    expect(badNext.status).toBe(400);
  });
});
