import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRICES } from '../../shared/domain/prices.js';
import { createApiHandler, type ApiHandler } from '../../shared/http/api.js';
import { apiEvent, body, context } from '../support/api-events.js';
import { lambdaApiDeps } from '../support/api-lambda.js';
import { startTestApi, TEST_ADMIN_TOKEN } from '../support/api-server.js';
import { apiClient } from '../support/http.js';

const ADMIN = 'arn:aws:iam::123456789012:user/ops';
const NOW = new Date('2026-12-06T09:30:00.000Z');

let handler: ApiHandler;
let token: string;

beforeAll(async () => {
  const deps = await lambdaApiDeps({ DORMOUSE_ADMIN_PRINCIPALS: ADMIN }, { clock: { now: () => NOW } });
  handler = createApiHandler(deps);
  const signup = await handler(apiEvent('POST', '/tenants', { body: { slug: 'acme', email: 'ann@acme.test' } }), context());
  token = body(signup).token;
  await handler(apiEvent('POST', '/tenants', { body: { slug: 'globex', email: 'hank@globex.test' } }), context());
  // Two hours on 1 vCPU / 2 GB Spot, half an hour of it on-demand, and a task running since 09:00.
  const tenant = (await deps.store.get('acme'))!;
  await deps.store.save({
    ...tenant,
    usage: {
      runningSeconds: { 'spot:1024:2048': 7200, 'on-demand:1024:2048': 1800 },
      wakes: 3,
      passivations: 2,
      meter: {
        phase: 'Running',
        running: { task: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/1', meter: 'spot:1024:2048', since: '2026-12-06T09:00:00.000Z' },
      },
    },
  });
});

const spotHour = PRICES.fargate.spot.perVcpuHour + 2 * PRICES.fargate.spot.perGbHour;
const onDemandHour = PRICES.fargate.onDemand.perVcpuHour + 2 * PRICES.fargate.onDemand.perGbHour;

describe('GET /tenants/{id}/usage', () => {
  it('gives the token holder the usage to date, the running task included, and its cost with the prices’ date and region', async () => {
    const response = await handler(apiEvent('GET', '/tenants/acme/usage', { token }), context());

    expect(response.statusCode).toBe(200);
    const usage = body(response);
    expect(usage).toMatchObject({
      tenantId: 'acme',
      plan: 'trial',
      at: NOW.toISOString(),
      runningSeconds: { 'spot:1024:2048': 9000, 'on-demand:1024:2048': 1800 },
      wakes: 3,
      passivations: 2,
      storageGibHours: 0,
      running: true,
      costToDate: { currency: 'USD', pricesAsOf: { fargate: '2025-06', efs: '2026-12' }, region: PRICES.region },
    });
    expect(usage.costToDate.amount).toBeCloseTo(2.5 * spotHour + 0.5 * onDemandHour, 6);
  });

  it('gives it to an administrator', async () => {
    const response = await handler(apiEvent('GET', '/admin/tenants/acme/usage', { iamUser: ADMIN }), context());

    expect(response.statusCode).toBe(200);
    expect(body(response).tenantId).toBe('acme');
  });

  it('answers 401 without a credential, 403 to another tenant’s token, 404 for no such tenant', async () => {
    const anonymous = await handler(apiEvent('GET', '/tenants/acme/usage'), context());
    const other = await handler(apiEvent('GET', '/tenants/globex/usage', { token }), context());
    const missing = await handler(apiEvent('GET', '/tenants/nobody-here/usage', { iamUser: ADMIN }), context());

    expect(anonymous.statusCode).toBe(401);
    expect(other.statusCode).toBe(403);
    expect(missing.statusCode).toBe(404);
  });

  it('answers a tenant that never ran with zeros and no cost', async () => {
    const response = await handler(apiEvent('GET', '/admin/tenants/globex/usage', { iamUser: ADMIN }), context());

    expect(body(response)).toMatchObject({ runningSeconds: {}, wakes: 0, passivations: 0, running: false, costToDate: { amount: 0 } });
  });
});

describe('GET /tenants (admin)', () => {
  it('shows each tenant’s cost to date', async () => {
    const response = await handler(apiEvent('GET', '/admin/tenants', { iamUser: ADMIN }), context());

    const costs = Object.fromEntries(
      body(response).items.map((item: { id: string; costToDate: { amount: number } }) => [item.id, item.costToDate]),
    );
    expect(costs.acme.amount).toBeCloseTo(2.5 * spotHour + 0.5 * onDemandHour, 6);
    expect(costs.globex).toMatchObject({ amount: 0, pricesAsOf: { fargate: '2025-06', efs: '2026-12' } });
  });
});

describe('the cost to date on an arm64 installation (DORMOUSE_TASK_ARCHITECTURE=arm64)', () => {
  it('prices the running time at Linux/ARM rates, in the usage and in the admin list', async () => {
    // Prepare: the same usage as above, on an installation whose tasks run on Graviton.
    const deps = await lambdaApiDeps(
      { DORMOUSE_ADMIN_PRINCIPALS: ADMIN, DORMOUSE_TASK_ARCHITECTURE: 'arm64' },
      { clock: { now: () => NOW } },
    );
    const arm = createApiHandler(deps);
    await arm(apiEvent('POST', '/tenants', { body: { slug: 'acme', email: 'ann@acme.test' } }), context());
    const tenant = (await deps.store.get('acme'))!;
    await deps.store.save({
      ...tenant,
      usage: { runningSeconds: { 'spot:1024:2048': 9000, 'on-demand:1024:2048': 1800 }, wakes: 3, passivations: 2 },
    });

    // Act
    const usage = body(await arm(apiEvent('GET', '/admin/tenants/acme/usage', { iamUser: ADMIN }), context()));
    const list = body(await arm(apiEvent('GET', '/admin/tenants', { iamUser: ADMIN }), context()));

    // Assess: 2.5 h × (0.0097 + 2 × 0.00107) on Spot, 0.5 h × (0.03238 + 2 × 0.00356) on-demand.
    const expected = { amount: 0.04935, currency: 'USD', pricesAsOf: { fargate: '2026-12', efs: '2026-12' }, region: 'us-east-1' };
    expect(usage.costToDate).toEqual(expected);
    expect(list.items[0].costToDate).toEqual(expected);
  });
});

describe('the cost to date in embedded mode', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('is priced at DORMOUSE_TASK_ARCHITECTURE’s rates', async () => {
    // Prepare: an hour of 0.25 vCPU / 0.5 GB on Spot, on an embedded API told its tasks are arm64.
    const { embedded } = await startTestApi({ DORMOUSE_TASK_ARCHITECTURE: 'arm64' });
    stops.push(() => embedded.stop());
    const call = apiClient(embedded.apiUrl);
    await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'ann@acme.test' } });
    const tenant = (await embedded.store.get('acme'))!;
    await embedded.store.save({ ...tenant, usage: { runningSeconds: { 'spot:256:512': 3600 }, wakes: 1, passivations: 1 } });

    // Act
    const response = await call('/admin/tenants/acme/usage', { token: TEST_ADMIN_TOKEN });

    // Assess: 0.25 × 0.0097 + 0.5 × 0.00107.
    expect(response.body.costToDate).toEqual({
      amount: 0.00296,
      currency: 'USD',
      pricesAsOf: { fargate: '2026-12', efs: '2026-12' },
      region: 'us-east-1',
    });
  });
});
