import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { wakeDeps } from '../../shared/adapters/aws/composition/wake.js';
import { albEvent, albInvoker, sendAlbResult } from '../../shared/adapters/local/alb-fallback.js';
import { loadWakeConfig } from '../../shared/config.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { createWakeHandler } from '../../shared/http/wake-handler.js';
import { createTestTables } from '../support/dynamodb.js';

let server: Server;
let port: number;
let store: DynamoDbTenantStore;

/** fetch() sets Host from the URL; a gateway is reached by name, so this sends its own. */
function get(
  headers: Record<string, string>,
): Promise<{ status: number; statusText: string; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/some/page?x=1', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const tables = await createTestTables();
  store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const config = loadWakeConfig({ DORMOUSE_TABLE_NAME: tables.tenantTable, DORMOUSE_BASE_URL: 'http://localhost:8080' });
  const handler = createWakeHandler(wakeDeps(config, { dynamoClient: tables.client }), new Logger({ serviceName: 'dormouse-wake' }));
  const invoke = albInvoker(handler);
  // What the gateway thread and the control plane's thread do between them.
  server = createServer(
    (req, res) =>
      void invoke({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders }).then((result) => sendAlbResult(res, result)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const created = await store.create(
    newTenant({ slug: 'dozy', email: 'dozy@example.test', plan: 'trial', tokenHash: 'hash', now: new Date(), trialDays: 14 }),
    { maxTenants: 10 },
  );
  await store.save({ ...created, spec: { ...created.spec, desired: 'passivated' }, status: { ...created.status, phase: 'Passivated' } });
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

describe('the embedded default action', () => {
  it('runs the wake handler for a sleeping tenant as the ALB would', async () => {
    const response = await get({ host: 'DOZY.localhost:8080' });

    expect(response.status).toBe(503);
    expect(response.statusText).toBe('Service Unavailable');
    expect(response.headers['retry-after']).toBe('5');
    expect(response.text).toContain('Waking up dozy…');
    expect((await store.get('dozy'))!.spec.desired).toBe('running');
  });

  it('answers an unknown host with the 404 page', async () => {
    const response = await get({ host: 'nobody.localhost:8080', accept: 'application/json' });

    expect(response.status).toBe(404);
    expect(JSON.parse(response.text)).toEqual({ tenant: 'nobody', status: 'unknown' });
  });

  it('passes the path and query as received, as the ALB does, even where a URL parser would refuse them', () => {
    const event = albEvent({
      method: 'GET',
      url: '//x:99999/a%20b?q=%2F&flag&q=2',
      rawHeaders: ['Host', 'acme.localhost', 'X-A', '1', 'x-a', '2'],
    });

    expect(event).toMatchObject({
      httpMethod: 'GET',
      path: '//x:99999/a%20b',
      queryStringParameters: { q: '2', flag: '' },
      headers: { host: 'acme.localhost', 'x-a': '1,2' },
      body: '',
    });
  });
});
