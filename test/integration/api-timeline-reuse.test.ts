import { beforeAll, describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../../shared/domain/timeline.js';
import type { LogSource, TenantLogs } from '../../shared/ports/tenant-logs.js';
import { createApiHandler, type ApiHandler } from '../../shared/http/api.js';
import { apiEvent, body, context } from '../support/api-events.js';
import { lambdaApiDeps } from '../support/api-lambda.js';

const NOW = new Date('2026-12-06T09:30:00.000Z');

/** The tenant logs port, answering no lines and remembering which tasks it was asked about. */
const asked: LogSource[] = [];
const logs: TenantLogs = {
  read: async (source) => {
    asked.push(source);
    return { lines: [] };
  },
};

/** An entry of the slug's earlier tenant, left behind by a removal that was missed. */
const earlier: TimelineEntry = {
  at: '2026-11-02T10:00:00.000Z',
  phase: 'Failed',
  desired: 'running',
  plan: 'trial',
  capacity: 'spot',
  task: 'earlier-tenants-task',
  reason: 'The container exited with code 1',
  version: 7,
  createdAt: '2026-11-01T08:00:00.000Z',
};

let handler: ApiHandler;
let token: string;

beforeAll(async () => {
  const deps = await lambdaApiDeps({}, { clock: { now: () => NOW }, logs });
  await deps.timeline.append('acme', earlier);
  handler = createApiHandler(deps);
  const signup = await handler(apiEvent('POST', '/tenants', { body: { slug: 'acme', email: 'ann@acme.test' } }), context());
  token = body(signup).token;
});

describe('a slug taken again while its earlier tenant’s timeline is still there', () => {
  it('shows the new token holder none of the earlier tenant’s timeline', async () => {
    const response = await handler(apiEvent('GET', '/tenants/acme/events', { token }), context());

    expect(response.statusCode).toBe(200);
    expect(body(response)).toEqual({ events: [] });
  });

  it('reads none of the earlier tenant’s task logs for the new token holder', async () => {
    asked.length = 0;
    const response = await handler(apiEvent('GET', '/tenants/acme/logs', { token }), context());

    expect(response.statusCode).toBe(200);
    expect(asked).toEqual([{ tenantId: 'acme', tasks: [] }]);
  });
});
