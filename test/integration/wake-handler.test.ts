import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import type { ALBEvent, ALBResult } from 'aws-lambda';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { wakeDeps } from '../../shared/adapters/aws/wake-deps.js';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import { loadWakeConfig } from '../../shared/config.js';
import { newTenant, type Tenant, type TenantStatus } from '../../shared/domain/tenant.js';
import { createWakeHandler, type WakeHandler } from '../../shared/http/wake-handler.js';
import { createTestTables } from '../support/dynamodb.js';

const ROOT = 'trials.example.com';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

/** What an ALB sends a Lambda target with multi-value headers off: header names in lowercase. */
function albEvent(headers: Record<string, string>, method = 'GET'): ALBEvent {
  return {
    requestContext: {
      elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dormouse-wake/0123456789abcdef' },
    },
    httpMethod: method,
    path: '/dashboard',
    queryStringParameters: {},
    headers: { 'user-agent': 'test', 'x-forwarded-proto': 'https', ...headers },
    body: '',
    isBase64Encoded: false,
  };
}

/** A fresh context per invocation, as Lambda gives each its own deadline. */
const context = () => localLambdaContext('dormouse-wake', 'req-1', 10_000);

let handler: WakeHandler;
let deps: ReturnType<typeof wakeDeps>;
let store: DynamoDbTenantStore;
let logger: Logger;
let logged: Array<Record<string, unknown>>;

async function put(slug: string, status: Partial<TenantStatus>, desired: Tenant['spec']['desired'] = 'running'): Promise<void> {
  const created = await store.create(
    newTenant({ slug, email: `${slug}@example.test`, plan: 'trial', tokenHash: 'hash', now: new Date(), trialDays: 14 }),
    { maxTenants: 100 },
  );
  await store.save({ ...created, spec: { ...created.spec, desired }, status: { ...created.status, ...status } });
}

const call = (headers: Record<string, string>, method?: string): Promise<ALBResult> => handler(albEvent(headers, method), context());

beforeAll(async () => {
  const tables = await createTestTables();
  const config = loadWakeConfig({ DORMOUSE_TABLE_NAME: tables.tenantTable, DORMOUSE_BASE_URL: `https://${ROOT}` });
  deps = wakeDeps(config, { dynamoClient: tables.client });
  store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  logger = new Logger({ serviceName: 'dormouse-wake', logLevel: 'INFO' });
  logged = [];
  // Capture the structured JSON lines the logger prints (errors go to stderr).
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = chunk.toString();
      if (!text.startsWith('{"level"')) return write(chunk, ...(rest as []));
      logged.push(JSON.parse(text));
      return true;
    });
  }
  handler = createWakeHandler(deps, logger);
  await put('sleepy', { phase: 'Passivated' }, 'passivated');
  await put('queued', { phase: 'Queued', queuedAt: new Date().toISOString() });
  await put('broken', {
    phase: 'Failed',
    lastError: 'The image "<b>app</b>" & its tag could not be pulled.',
    lastErrorCategory: 'not-started',
  });
  await put('leaky', {
    phase: 'Failed',
    lastError:
      'The application exited with code 1 (could not connect to postgres://app:S3cretPassw0rd@db:5432/app; ' +
      'AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/dormouse-Reconcile-1X2Y/fn is not authorized to perform: ecs:RunTask).',
    lastErrorCategory: 'stopped',
  });
  await put('ended', { phase: 'Deleted' }, 'deleted');
});

describe('the wake handler behind the ALB', () => {
  it('wakes a sleeping tenant and answers a small page that reloads itself', async () => {
    const result = await call({ host: `sleepy.${ROOT}`, accept: BROWSER_ACCEPT });

    expect(result).toMatchObject({ statusCode: 503, statusDescription: '503 Service Unavailable', isBase64Encoded: false });
    expect(result.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'retry-after': '5',
      'cache-control': 'no-store',
      vary: 'accept',
      'content-security-policy': expect.stringMatching(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/),
    });
    const html = result.body!;
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('<meta http-equiv="refresh" content="5">');
    expect(html).toMatch(/<main>\n<h1>Waking up sleepy…<\/h1>/);
    expect(html).toMatch(/<p role="status" aria-live="polite">[^<]*under a minute/);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//);
    expect((await store.get('sleepy'))!.spec.desired).toBe('running');
  });

  it('tells browsers to keep to HTTPS, subdomains included, when tenants are served over HTTPS, and not otherwise', async () => {
    // Prepare
    const overHttps = createWakeHandler(deps, logger, { https: true });
    const overHttp = createWakeHandler(deps, logger);

    // Act
    const pages = await Promise.all([
      overHttps(albEvent({ host: `queued.${ROOT}`, accept: BROWSER_ACCEPT }), context()),
      overHttps(albEvent({ host: `queued.${ROOT}`, accept: 'application/json' }), context()),
      overHttps(albEvent({ host: `nobody-here.${ROOT}`, accept: BROWSER_ACCEPT }), context()),
    ]);
    const plain = await overHttp(albEvent({ host: `queued.${ROOT}`, accept: BROWSER_ACCEPT }), context());

    // Assess
    for (const page of pages) expect(page.headers?.['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(plain.headers).not.toHaveProperty('strict-transport-security');
  });

  it('tells a visitor of a tenant woken too often this hour when to come back, without waking it or reloading', async () => {
    // Prepare: asleep, and woken by requests as often as the hour allows.
    await put('tired', { phase: 'Passivated' }, 'passivated');
    const tired = (await store.get('tired'))!;
    await store.save({ ...tired, anonymousWakes: { since: new Date(Date.now() - 20 * 60_000).toISOString(), count: 6 } });

    // Act
    const result = await call({ host: `tired.${ROOT}`, accept: BROWSER_ACCEPT });

    // Assess
    expect(result.statusCode).toBe(503);
    expect(Number(result.headers?.['retry-after'])).toBeGreaterThan(39 * 60);
    expect(Number(result.headers?.['retry-after'])).toBeLessThanOrEqual(40 * 60);
    expect(result.headers?.['cache-control']).toBe('no-store');
    expect(result.body).toMatch(/<h1>tired is asleep<\/h1>/);
    expect(result.body).toMatch(/Try again in 40 minutes\./);
    expect(result.body).not.toContain('http-equiv="refresh"');
    expect((await store.get('tired'))!.spec.desired).toBe('passivated');
  });

  it('answers JSON to a client that asks for it', async () => {
    const result = await call({ host: `queued.${ROOT}`, accept: 'application/json' });

    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'retry-after': '15',
      'cache-control': 'no-store',
    });
    expect(JSON.parse(result.body!)).toEqual({ tenant: 'queued', phase: 'Queued', status: 'waking', retryAfter: 15, position: 1 });
  });

  it('shows a queued tenant its place in line', async () => {
    const result = await call({ host: `queued.${ROOT}` });

    expect(result.body).toContain('Waiting for a free slot (number 1 in line)');
    expect(result.body).toContain('<meta http-equiv="refresh" content="15">');
  });

  it('explains a failure in a fixed sentence for its kind, and does not reload', async () => {
    const result = await call({ host: `broken.${ROOT}`, accept: BROWSER_ACCEPT });

    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ 'retry-after': '60', 'cache-control': 'no-store' });
    expect(result.body).toContain('The application did not start.');
    expect(result.body).not.toContain('app&#60;/b&#62;');
    expect(result.body).not.toContain('<b>app</b>');
    expect(result.body).not.toContain('http-equiv="refresh"');
  });

  it("shows anyone neither the password nor the AWS account of a failed tenant's error, on the page or in its JSON", async () => {
    const page = await call({ host: `leaky.${ROOT}`, accept: BROWSER_ACCEPT });
    const json = await call({ host: `leaky.${ROOT}`, accept: 'application/json' });

    expect(page.body).toContain('The application stopped unexpectedly.');
    expect(JSON.parse(json.body!)).toEqual({
      tenant: 'leaky',
      phase: 'Failed',
      status: 'failed',
      retryAfter: 60,
      reason: 'The application stopped unexpectedly.',
    });
    for (const body of [page.body, json.body]) expect(body).not.toMatch(/S3cretPassw0rd|postgres|123456789012|arn:|AccessDenied|exited/);
  });

  it('answers an ended trial with 410, cacheable for a few minutes', async () => {
    const result = await call({ host: `ended.${ROOT}` });

    expect(result).toMatchObject({ statusCode: 410, statusDescription: '410 Gone' });
    expect(result.headers).toMatchObject({ 'cache-control': 'public, max-age=300', 'content-type': 'text/html; charset=utf-8' });
    expect(result.headers).not.toHaveProperty('retry-after');
    expect(result.body).toContain('<h1>This trial has ended</h1>');
  });

  it('answers an unknown host with 404, briefly cacheable, without repeating the host', async () => {
    const result = await call({ host: `<script>alert(1)</script>.${ROOT}` });
    const json = await call({ host: `nobody-here.${ROOT}`, accept: 'application/json' });

    expect(result).toMatchObject({ statusCode: 404, statusDescription: '404 Not Found' });
    expect(result.headers).toMatchObject({ 'cache-control': 'public, max-age=30', vary: 'accept' });
    expect(result.body).not.toContain('script');
    expect(result.body).toContain('There is no trial at this address');
    expect(json.statusCode).toBe(404);
    expect(JSON.parse(json.body!)).toEqual({ tenant: 'nobody-here', status: 'unknown' });
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const result = await call({ host: `queued.${ROOT}` }, 'HEAD');

    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ 'retry-after': '15' });
    expect(result.body).toBe('');
  });

  it('answers with multi-value headers when the target group sends them', async () => {
    const event: ALBEvent = {
      ...albEvent({}),
      headers: undefined,
      multiValueHeaders: { host: [`queued.${ROOT}`], accept: ['application/json'] },
    };

    const result = await handler(event, context());

    expect(result.headers).toBeUndefined();
    expect(result.multiValueHeaders).toMatchObject({ 'content-type': ['application/json; charset=utf-8'], 'retry-after': ['15'] });
    expect(JSON.parse(result.body!)).toMatchObject({ tenant: 'queued', position: 1 });
  });

  it('never throws to the ALB: an unexpected failure is a 503 "try again" page, the details only in the log', async () => {
    const failing = createWakeHandler(
      {
        ...deps,
        store: {
          ...deps.store,
          get: async () => Promise.reject(new Error('connect ECONNREFUSED dormouse-secret-table')),
        } as typeof deps.store,
      },
      logger,
    );
    logged.length = 0;

    const html = await failing(albEvent({ host: `sleepy.${ROOT}` }), context());
    const json = await failing(albEvent({ host: `sleepy.${ROOT}`, accept: 'application/json' }), context());

    expect(html).toMatchObject({ statusCode: 503, statusDescription: '503 Service Unavailable' });
    expect(html.headers).toMatchObject({ 'retry-after': '30', 'cache-control': 'no-store' });
    expect(html.body).toContain('Something went wrong on our side');
    expect(html.body).not.toContain('dormouse-secret-table');
    expect(JSON.parse(json.body!)).toEqual({ status: 'error', retryAfter: 30 });
    expect(JSON.stringify(logged)).toContain('dormouse-secret-table');
  });
});
