import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import type { WakeAnswer } from '../../shared/app/wake.js';
import { newTenant, type Phase, type TenantStatus } from '../../shared/domain/tenant.js';
import type { Brand } from '../../shared/http/page-layout.js';
import { renderWakePage } from '../../shared/http/wake-pages.js';
import { startTestApi, startTestEmbedded } from '../support/api-server.js';
import { axeViolations, launchChromium } from '../support/browser.js';
import { apiClient } from '../support/http.js';

/**
 * The pages prospects and tenants' owners see, in Debian's chromium: the waking, failed and gone
 * pages (as the wake function renders them, served here on loopback) and the self-service page
 * of the embedded API, each under its strict CSP, each without an axe-core violation.
 */
const BRAND: Brand = { name: 'Acme Cloud', accent: '#0f766e', supportUrl: new URL('https://acme.example/help') };

let browser: Browser;
let embedded: Embedded;
let store: Embedded['store'];
let call: ReturnType<typeof apiClient>;
let wakePages: Server;
let wakePagesUrl: string;

/** What the wake function answers for each path here, as HTML or (for the waking page's script) JSON. */
const ANSWERS: Record<string, Omit<WakeAnswer, 'format'>> = {
  '/waking': { status: 503, kind: 'waking', tenant: 'sleepy', phase: 'Waking', retryAfter: 5, step: 'server', estimateSeconds: 12 },
  '/failed': {
    status: 503,
    kind: 'failed',
    tenant: 'broken',
    phase: 'Failed',
    retryAfter: 60,
    reason: 'The application stopped unexpectedly.',
  },
  '/gone': { status: 410, kind: 'gone', tenant: 'ended', phase: 'Deleted' },
};

beforeAll(async () => {
  const started = await startTestApi();
  embedded = started.embedded;
  store = embedded.store;
  call = apiClient(embedded.apiUrl);
  const manageUrl = new URL('/manage', embedded.apiUrl);
  wakePages = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const answer = ANSWERS[path];
    if (!answer) return void response.writeHead(404).end();
    const format = /json/.test(request.headers.accept ?? '') ? 'json' : 'html';
    const page = renderWakePage({ ...answer, format } as WakeAnswer, { brand: BRAND, manageUrl });
    response.writeHead(page.statusCode, page.headers).end(page.body);
  });
  await new Promise<void>((resolve) => wakePages.listen(0, '127.0.0.1', resolve));
  wakePagesUrl = `http://127.0.0.1:${(wakePages.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => wakePages?.close(resolve));
  await embedded?.stop();
});

/** A page that records what the CSP refused and every URL it asked for. */
async function watchedPage(): Promise<{ page: Page; refused: string[]; urls: string[] }> {
  const page = await browser.newPage();
  const refused: string[] = [];
  const urls: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) refused.push(message.text());
  });
  page.on('request', (request) => urls.push(request.url()));
  return { page, refused, urls };
}

async function signUp(slug: string, status: Partial<TenantStatus> = {}, desired?: 'running' | 'passivated') {
  const response = await call('/tenants', { method: 'POST', body: { slug, email: `${slug}@example.test` } });
  expect(response.status).toBe(202);
  const tenant = (await store.get(slug))!;
  await store.save({
    ...tenant,
    spec: { ...tenant.spec, ...(desired ? { desired } : {}) },
    status: { ...tenant.status, ...status },
  });
  return response.body.token as string;
}

async function setPhase(slug: string, phase: Phase) {
  const tenant = (await store.get(slug))!;
  await store.save({ ...tenant, status: { ...tenant.status, phase, observedGeneration: tenant.spec.generation } });
}

describe('the waking, failed and gone pages in chromium', () => {
  it.each(['/waking', '/failed', '/gone'])('%s wears the brand, keeps to its CSP and has no accessibility violations', async (path) => {
    const { page, refused } = await watchedPage();
    await page.goto(`${wakePagesUrl}${path}`);

    await page.locator('header.brand', { hasText: 'Acme Cloud' }).waitFor();
    expect(await page.textContent('main')).not.toMatch(/Passivat|Provisioning|Queued|Failed|ECS|Fargate/);
    expect(await axeViolations(page)).toEqual([]);
    expect(refused).toEqual([]);
    await page.close();
  });
});

describe('the self-service page in chromium', () => {
  it('is reached from the failed page, asks for the token once, and retries the failed trial', async () => {
    // Prepare: given up on, as the reconciler leaves a tenant.
    const token = await signUp('broken', { phase: 'Failed', failedGeneration: 1, lastError: 'ECS said no', lastErrorCategory: 'stopped' });
    const { page, refused, urls } = await watchedPage();
    await page.goto(`${wakePagesUrl}/failed`);

    // Act: the link, then the token.
    await page.getByRole('link', { name: 'try starting it again' }).click();
    await page.waitForURL(`${embedded.apiUrl}/manage#broken`);
    await page.locator('#token').waitFor();
    expect(await page.inputValue('#tenant-id')).toBe('broken');
    expect(await axeViolations(page)).toEqual([]);
    await page.fill('#token', token);
    await page.click('#signin button[type=submit]');

    // Assess: plain words, the retry, and the token kept for the tab only.
    await page.locator('#state', { hasText: 'It could not be started. The application stopped unexpectedly.' }).waitFor();
    expect(await page.textContent('#trial')).not.toMatch(/ECS said no|Failed/);
    expect(await page.isVisible('#wake')).toBe(false);
    expect(await axeViolations(page)).toEqual([]);
    await page.click('#retry');
    await page.locator('#action-status', { hasText: 'Starting it again.' }).waitFor();
    const retried = (await store.get('broken'))!;
    expect(retried.spec).toMatchObject({ desired: 'running', generation: 2 });

    await page.reload();
    await page.locator('#trial-heading', { hasText: 'broken' }).waitFor();
    expect(await page.isHidden('#signin')).toBe(true);
    expect(urls.filter((url) => url.includes(token))).toEqual([]);
    expect(refused).toEqual([]);
    await page.close();
  });

  it('wakes a sleeping trial, puts it to sleep, and deletes it only once confirmed; a token in the fragment leaves the address', async () => {
    const token = await signUp('dozy', { phase: 'Passivated' }, 'passivated');
    const { page, refused } = await watchedPage();

    await page.goto(`${embedded.apiUrl}/manage#dozy&token=${token}`);
    await page.locator('#state', { hasText: 'Asleep.' }).waitFor();
    expect(page.url()).toBe(`${embedded.apiUrl}/manage#dozy`);
    expect(await page.textContent('#address')).toBe('http://dozy.localhost:8080');
    expect(await page.textContent('#plan')).toBe('trial');

    await page.click('#wake');
    await page.locator('#state', { hasText: 'Waking up…' }).waitFor();
    expect((await store.get('dozy'))!.spec.desired).toBe('running');
    await setPhase('dozy', 'Running');
    await page.locator('#state', { hasText: 'Running.' }).waitFor();

    await page.click('#sleep');
    await page.locator('#state', { hasText: 'Going to sleep…' }).waitFor();
    expect((await store.get('dozy'))!.spec.desired).toBe('passivated');

    await page.click('#delete');
    await page.locator('#confirm-delete').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.click('#delete-no');
    expect(await page.isHidden('#confirm-delete')).toBe(true);
    expect((await store.get('dozy'))!.spec.desired).toBe('passivated');
    await page.click('#delete');
    await page.click('#delete-yes');
    await page.locator('#state', { hasText: 'Deleting it…' }).waitFor();
    expect((await store.get('dozy'))!.spec.desired).toBe('deleted');
    expect(refused).toEqual([]);
    await page.close();
  });

  it('opens from the signup page without asking for the token the signup just showed', async () => {
    const { page, urls } = await watchedPage();
    await page.goto(`${embedded.apiUrl}/`);
    await page.fill('#slug', 'fresh-signup');
    await page.fill('#email', 'fresh-signup@example.test');
    await page.click('#submit');
    await page.locator('#result').waitFor();
    const token = await page.textContent('#token');

    await page.click('#manage-link');

    await page.locator('#trial-heading', { hasText: 'fresh-signup' }).waitFor();
    expect(page.url()).toBe(`${embedded.apiUrl}/manage#fresh-signup`);
    expect(await page.isHidden('#signin')).toBe(true);
    expect(urls.filter((url) => url.includes(token!))).toEqual([]);
    await page.close();
  });

  it("refuses a token that is not the trial's and asks again", async () => {
    await signUp('guarded');
    const other = await signUp('intruder');
    const { page } = await watchedPage();

    await page.goto(`${embedded.apiUrl}/manage#guarded&token=${other}`);

    await page.locator('#signin-error', { hasText: 'That token does not belong to this trial.' }).waitFor();
    expect(await page.isHidden('#trial')).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length)).toBe(0);
    await page.close();
  });
});

describe('the failed page in embedded mode', () => {
  it("links, through the gateway, to the self-service page of the local API with the tenant's name", async () => {
    // Prepare: a tenant recorded as given up on, which nothing retries by itself.
    const { embedded: local } = await startTestEmbedded();
    const localStore = local.store;
    const created = await localStore.create(
      newTenant({ slug: 'kaput', email: 'kaput@example.test', plan: 'trial', tokenHash: 'hash', now: new Date(), trialDays: 14 }),
      { maxTenants: 100 },
    );
    await localStore.save({ ...created, status: { ...created.status, phase: 'Failed', failedGeneration: created.spec.generation } });
    const page = await browser.newPage();
    try {
      // Act
      await page.goto(`http://kaput.localhost:${new URL(local.gatewayUrl).port}/`);
      await page.getByRole('link', { name: 'try starting it again' }).click();

      // Assess
      await page.waitForURL(`${local.apiUrl}/manage#kaput`);
      await page.locator('#token').waitFor();
      expect(await page.inputValue('#tenant-id')).toBe('kaput');
    } finally {
      await page.close();
      await local.stop();
    }
  }, 60_000);
});
