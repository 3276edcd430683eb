import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import type { ALBEvent, ALBResult } from 'aws-lambda';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { wakeDeps } from '../../shared/adapters/aws/composition/wake.js';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import { loadWakeConfig } from '../../shared/config.js';
import { newTenant, type Tenant, type TenantStatus } from '../../shared/domain/tenant.js';
import { createWakeHandler, type WakeHandler } from '../../shared/http/wake-handler.js';
import { createTestTables } from '../support/dynamodb.js';

const ROOT = 'trials.example.com';
const CURL = '*/*';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

/** What an ALB sends a Lambda target with multi-value headers off: header names in lowercase. */
function albEvent(headers: Record<string, string>, method = 'GET', query: Record<string, string> = {}): ALBEvent {
  return {
    requestContext: {
      elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dormouse-wake/0123456789abcdef' },
    },
    httpMethod: method,
    path: '/dashboard',
    queryStringParameters: query,
    headers: { 'user-agent': 'test', 'x-forwarded-proto': 'https', ...headers },
    body: '',
    isBase64Encoded: false,
  };
}

/** A fresh context per invocation, as Lambda gives each its own deadline. */
const context = () => localLambdaContext('dormouse-wake', 'req-1', 10_000);

let tables: Awaited<ReturnType<typeof createTestTables>>;
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
  tables = await createTestTables();
  // Answers at once here; the hold has tests of its own below.
  const config = loadWakeConfig({
    DORMOUSE_TABLE_NAME: tables.tenantTable,
    DORMOUSE_BASE_URL: `https://${ROOT}`,
    DORMOUSE_WAKE_HOLD_SECONDS: '0',
  });
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
  it('wakes a sleeping tenant and answers a small page that follows the wake and loads the app by script', async () => {
    const result = await call({ host: `sleepy.${ROOT}`, accept: BROWSER_ACCEPT });

    expect(result).toMatchObject({ statusCode: 503, statusDescription: '503 Service Unavailable', isBase64Encoded: false });
    expect(result.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'retry-after': '5',
      'cache-control': 'no-store',
      vary: 'accept',
      'content-security-policy': expect.stringMatching(
        /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'; /,
      ),
    });
    const html = result.body!;
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    // No meta refresh where script runs (an accessibility failure): only as the <noscript> fallback.
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
    expect(html.replace(/<noscript>.*?<\/noscript>/g, '')).not.toContain('http-equiv="refresh"');
    expect(html).toMatch(/<main data-poll>\n<h1>Waking up sleepy…<\/h1>/);
    expect(html).toContain('<span role="status" aria-live="polite" id="status">Waking it up.</span>');
    expect(html).toContain(
      '<li data-step="asked" data-queued="Waiting for a free place, number N in line" aria-current="step">Waking it up</li>',
    );
    expect(html).toContain('<li data-step="server">Starting its server</li>');
    expect(html).toMatch(/under a minute\. This page shows sleepy as soon as it is ready\./);
    // The script is inline, allowed by its hash; nothing is loaded from anywhere.
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html).not.toMatch(/<link|src=|https?:\/\//);
    const script = html.match(/<script>([\s\S]*?)<\/script>/)![1]!;
    const hash = createHash('sha256').update(script, 'utf8').digest('base64');
    expect(result.headers?.['content-security-policy']).toContain(`script-src 'sha256-${hash}'`);
    // Never the internal phase names.
    expect(html).not.toMatch(/Passivat|Provisioning|Queued|Waking</);
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
    expect(JSON.parse(result.body!)).toEqual({
      tenant: 'queued',
      phase: 'Queued',
      status: 'waking',
      retryAfter: 15,
      position: 1,
      step: 'asked',
    });
  });

  it('shows a queued tenant its place in line', async () => {
    const result = await call({ host: `queued.${ROOT}` });

    expect(result.body).toContain('<span role="status" aria-live="polite" id="status">Waiting for a free place, number 1 in line.</span>');
    expect(result.body).toContain('<noscript><meta http-equiv="refresh" content="15"></noscript>');
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

  it("wears the operator's brand on the waking, failed and gone pages, and links a failed tenant's owner to the self-service page", async () => {
    // Prepare
    const branded = createWakeHandler(deps, logger, {
      pages: {
        brand: {
          name: 'Acme Cloud',
          logoUrl: new URL('https://cdn.acme.example/logo.svg'),
          accent: '#ff8800',
          supportUrl: new URL('https://acme.example/help'),
        },
        manageUrl: new URL('https://api.acme.example/manage'),
      },
    });

    // Act
    const pages = await Promise.all(
      ['queued', 'broken', 'ended'].map((slug) => branded(albEvent({ host: `${slug}.${ROOT}`, accept: BROWSER_ACCEPT }), context())),
    );

    // Assess
    for (const page of pages) {
      expect(page.body).toContain(
        '<header class="brand"><img src="https://cdn.acme.example/logo.svg" alt=""><span>Acme Cloud</span></header>',
      );
      expect(page.body).toContain('<a href="https://acme.example/help">Contact support</a>');
      expect(page.body).toContain('--accent:#ff8800');
      expect(page.headers?.['content-security-policy']).toContain('img-src https://cdn.acme.example;');
      const style = page.body!.match(/<style>([\s\S]*?)<\/style>/)![1]!;
      expect(page.headers?.['content-security-policy']).toContain(
        `style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`,
      );
    }
    const [waking, failed] = pages;
    expect(waking!.body).toContain('<span class="spinner" aria-hidden="true"></span>');
    expect(failed!.body).toContain('<a href="https://api.acme.example/manage#broken">try starting it again</a>');
    // Without the self-service page's address, no link.
    expect((await call({ host: `broken.${ROOT}`, accept: BROWSER_ACCEPT })).body).not.toContain('manage');
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
    // Reloads after a while, by script (or by the <noscript> refresh).
    expect(html.body).toContain('<main data-reload="30">');
    expect(html.body).toContain('<noscript><meta http-equiv="refresh" content="30"></noscript>');
    expect(JSON.parse(json.body!)).toEqual({ status: 'error', retryAfter: 30 });
    expect(JSON.stringify(logged)).toContain('dormouse-secret-table');
  });
});

describe('the wake handler holding a request that is not a browser navigation', () => {
  const CURL_ACCEPT = '*/*';
  let held: WakeHandler;

  beforeAll(() => {
    const config = loadWakeConfig({
      DORMOUSE_TABLE_NAME: tables.tenantTable,
      DORMOUSE_BASE_URL: `https://${ROOT}`,
      DORMOUSE_WAKE_HOLD_SECONDS: '2',
    });
    held = createWakeHandler(wakeDeps(config, { dynamoClient: tables.client }), logger);
  });

  /** What the reconciler records once the woken tenant's task serves behind its rule. */
  async function serveAfter(slug: string, ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    const tenant = (await store.get(slug))!;
    await store.save({ ...tenant, status: { ...tenant.status, phase: 'Running', transitionAt: new Date().toISOString() } });
  }

  it('wakes the tenant, holds the request, and sends it on with 307 to the same path and query as soon as the tenant serves', async () => {
    // Prepare
    await put('held', { phase: 'Passivated' }, 'passivated');
    const started = Date.now();

    // Act
    const [result] = await Promise.all([
      held(albEvent({ host: `held.${ROOT}`, accept: CURL_ACCEPT }, 'POST', { q: 'a%20b', flag: '' }), context()),
      serveAfter('held', 600),
    ]);

    // Assess
    const waited = Date.now() - started;
    expect(result).toMatchObject({ statusCode: 307, statusDescription: '307 Temporary Redirect' });
    expect(result.headers).toMatchObject({ location: '/dashboard?q=a%20b&flag', 'cache-control': 'no-store' });
    expect(result.headers).not.toHaveProperty('retry-after');
    expect((await store.get('held'))!.spec.desired).toBe('running');
    // Looked at again within about a second of serving, well before the hold ran out.
    expect(waited).toBeGreaterThanOrEqual(600);
    expect(waited).toBeLessThan(1_700);
  });

  it('answers 503 with Retry-After once the hold runs out, the tenant still starting', async () => {
    await put('slow', { phase: 'Waking' });
    const started = Date.now();

    const result = await held(albEvent({ host: `slow.${ROOT}`, accept: 'application/json' }), context());

    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ 'retry-after': '5', 'content-type': 'application/json; charset=utf-8' });
    expect(JSON.parse(result.body!)).toMatchObject({ tenant: 'slow', status: 'waking', step: 'server' });
  });

  it('stops holding when the tenant fails meanwhile, and says so', async () => {
    await put('doomed', { phase: 'Waking' });
    const failLater = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const tenant = (await store.get('doomed'))!;
      await store.save({
        ...tenant,
        status: { ...tenant.status, phase: 'Failed', lastError: 'The image could not be pulled.', lastErrorCategory: 'not-started' },
      });
    })();

    const [result] = await Promise.all([held(albEvent({ host: `doomed.${ROOT}`, accept: 'application/json' }), context()), failLater]);

    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body!)).toMatchObject({ tenant: 'doomed', status: 'failed', reason: 'The application did not start.' });
  });

  it('answers a browser navigation and a WebSocket upgrade at once, and never holds past the function’s own deadline', async () => {
    await put('visited', { phase: 'Waking' });

    const started = Date.now();
    const page = await held(albEvent({ host: `visited.${ROOT}`, accept: BROWSER_ACCEPT }), context());
    const browserTime = Date.now() - started;
    const short = await held(
      albEvent({ host: `visited.${ROOT}`, accept: CURL_ACCEPT }),
      localLambdaContext('dormouse-wake', 'req-2', 3_000),
    );
    const shortTime = Date.now() - started - browserTime;

    const upgradeStarted = Date.now();
    const upgrade = await held(
      albEvent({ host: `visited.${ROOT}`, upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13' }),
      context(),
    );
    const upgradeTime = Date.now() - upgradeStarted;

    expect(page.statusCode).toBe(503);
    expect(page.body).toContain('<h1>Waking up visited…</h1>');
    // A WebSocket client cannot follow a 307: answered at once too, to retry after Retry-After.
    expect(upgrade).toMatchObject({ statusCode: 503, headers: { 'retry-after': '5' } });
    expect(upgradeTime).toBeLessThan(500);
    expect(browserTime).toBeLessThan(500);
    // 3 s left, 2 s of them kept to answer: held about 1 s, not the 2 s hold.
    expect(short.statusCode).toBe(503);
    expect(shortTime).toBeGreaterThanOrEqual(900);
    expect(shortTime).toBeLessThan(1_800);
  });
});

describe('the waking page’s estimate', () => {
  it('comes from the wakes held requests saw end: the median, in seconds, on the page and in the JSON', async () => {
    // Prepare: a fresh table, so no other test's wakes count.
    const own = await createTestTables();
    const config = loadWakeConfig({
      DORMOUSE_TABLE_NAME: own.tenantTable,
      DORMOUSE_BASE_URL: `https://${ROOT}`,
      DORMOUSE_WAKE_HOLD_SECONDS: '3',
    });
    const ownStore = new DynamoDbTenantStore({ tableName: own.tenantTable, client: own.documentClient });
    const held = createWakeHandler(wakeDeps(config, { dynamoClient: own.client }), logger);
    const created = await ownStore.create(
      newTenant({ slug: 'timed', email: 'timed@example.test', plan: 'trial', tokenHash: 'hash', now: new Date(), trialDays: 14 }),
      { maxTenants: 100 },
    );
    await ownStore.save({
      ...created,
      spec: { ...created.spec, desired: 'passivated' },
      status: { ...created.status, phase: 'Passivated' },
    });
    const before = await held(albEvent({ host: `timed.${ROOT}`, accept: BROWSER_ACCEPT }), context());
    const wokenAt = Date.parse((await ownStore.get('timed'))!.wokenAt!);

    // Act: the tenant serves 42 s after the request woke it (as recorded), while a request is held.
    const serve = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const tenant = (await ownStore.get('timed'))!;
      await ownStore.save({
        ...tenant,
        status: { ...tenant.status, phase: 'Running', transitionAt: new Date(wokenAt + 42_000).toISOString() },
      });
    })();
    const [ready] = await Promise.all([held(albEvent({ host: `timed.${ROOT}`, accept: CURL }), context()), serve]);
    const tenant = (await ownStore.get('timed'))!;
    await ownStore.save({ ...tenant, spec: { ...tenant.spec, desired: 'passivated' }, status: { ...tenant.status, phase: 'Passivated' } });
    const page = await held(albEvent({ host: `timed.${ROOT}`, accept: BROWSER_ACCEPT }), context());
    const json = await held(
      albEvent({ host: `timed.${ROOT}`, accept: 'text/html;q=0, application/json' }),
      localLambdaContext('dormouse-wake', 'req-3', 2_000),
    );

    // Assess
    expect(before.body).toContain('This usually takes under a minute.');
    expect(ready.statusCode).toBe(307);
    expect(page.body).toContain('This usually takes about 45 seconds.');
    expect(JSON.parse(json.body!)).toMatchObject({ status: 'waking', estimateSeconds: 42 });
  });
});
