import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { TEST_ADMIN_TOKEN, eventually, startTestEmbedded } from '../support/api-server.js';
import { axeViolations, launchChromium } from '../support/browser.js';
import { apiClient } from '../support/http.js';
import { startConsoleServer } from '../../shared/adapters/local/console-server.js';

/**
 * The operator console in Debian's chromium, against the whole of embedded mode (tenant
 * processes included), over real HTTP.
 */
let browser: Browser;
let embedded: Embedded;
let call: ReturnType<typeof apiClient>;

beforeAll(async () => {
  ({ embedded } = await startTestEmbedded());
  call = apiClient(embedded.apiUrl);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await embedded?.stop();
});

const admin = { token: TEST_ADMIN_TOKEN };
const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;
const signUp = (slug: string) => call('/tenants', { method: 'POST', body: { slug, email: `${slug}@example.test` } });

/** A console tab with the admin token given, its table drawn. */
async function openConsole(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${embedded.apiUrl}/console`);
  await page.fill('#admin-token', TEST_ADMIN_TOKEN);
  await page.click('#login button[type=submit]');
  await page.locator('#count').filter({ hasText: 'tenants' }).waitFor();
  return page;
}

/** A request to a tenant through the embedded gateway, by its Host. */
function visit(slug: string, path: string): Promise<number> {
  const gateway = new URL(embedded.gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: gateway.hostname, port: gateway.port, path, headers: { host: `${slug}.localhost` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const row = (page: Page, slug: string) => page.locator(`tr[data-tenant="${slug}"]`);

describe('the operator console in chromium', () => {
  it('asks for the admin token once, says so when it is wrong, and keeps it until the tab is closed', async () => {
    const page = await browser.newPage();
    await page.goto(`${embedded.apiUrl}/console`);
    await page.fill('#admin-token', 'not-the-admin-token-at-all');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'refused' }).waitFor();

    await page.fill('#admin-token', TEST_ADMIN_TOKEN);
    await page.click('#login button[type=submit]');
    await page.locator('#count').filter({ hasText: 'tenants' }).waitFor();
    await page.reload();
    await page.locator('#count').filter({ hasText: 'tenants' }).waitFor();

    expect(await page.isHidden('#login')).toBe(true);
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem(
          'dormouse-admin-token',
        ),
      ),
    ).toBe(TEST_ADMIN_TOKEN);
    await page.close();
  });

  it('shows a new tenant within 2 s of its signup', async () => {
    const page = await openConsole();
    expect((await signUp('fresh-one')).status).toBe(202);
    // From the moment the tenant exists: the API has answered the signup.
    const signedUpAt = Date.now();

    await row(page, 'fresh-one').waitFor({ timeout: 2_000 });
    const after = Date.now() - signedUpAt;
    console.info(`a new tenant showed in the console ${after} ms after its signup`);
    expect(after).toBeLessThan(2_000);
    await page.close();
  });

  it('wakes a sleeping tenant with the wake button, once confirmed', async () => {
    await signUp('sleepy');
    await eventually(
      'sleepy running',
      () => phaseOf('sleepy'),
      (phase) => phase === 'Running',
    );
    await call('/tenants/sleepy/passivate', { method: 'POST', ...admin });
    await eventually(
      'sleepy passivated',
      () => phaseOf('sleepy'),
      (phase) => phase === 'Passivated',
    );
    const page = await openConsole();
    await row(page, 'sleepy').locator('.phase', { hasText: 'Passivated' }).waitFor();

    await row(page, 'sleepy').getByRole('button', { name: 'Wake sleepy' }).click();
    expect(await page.locator('#confirm-text').textContent()).toBe('Wake sleepy? It starts within a minute.');
    await page.click('#confirm-ok');

    await row(page, 'sleepy').locator('.phase', { hasText: 'Running' }).waitFor({ timeout: 30_000 });
    expect((await call('/tenants/sleepy')).body).toMatchObject({ phase: 'Running', desired: 'running' });
    await page.close();
  }, 60_000);

  it("shows a tenant's timeline and a line it logged on its page", async () => {
    await signUp('chatty');
    await eventually(
      'chatty running',
      () => phaseOf('chatty'),
      (phase) => phase === 'Running',
    );
    expect(await visit('chatty', '/whoami?from=console-test')).toBe(200);
    const page = await openConsole();

    await page.click('a[href="#/tenants/chatty"]');

    await page.locator('#logs li', { hasText: 'GET /whoami?from=console-test 200' }).waitFor({ timeout: 10_000 });
    await page.locator('#events li', { hasText: 'Running' }).first().waitFor();
    expect(await page.isHidden('#tenants-view')).toBe(true);
    expect(await page.locator('#tenant-title').textContent()).toBe('chatty');
    await page.close();
  }, 60_000);

  it('does nothing when the confirmation is cancelled', async () => {
    await signUp('kept');
    const page = await openConsole();
    await row(page, 'kept').getByRole('button', { name: 'Delete kept' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForTimeout(1_500);

    expect((await call('/tenants/kept')).body.desired).toBe('running');
    await page.close();
  });

  it('filters the table by phase and by name', async () => {
    const page = await openConsole();
    await row(page, 'sleepy').waitFor();
    await page.fill('#filter-text', 'fresh');
    await page.locator('#count').filter({ hasText: /^1 of/ }).waitFor();
    expect(await page.locator('#tenant-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tenant')))).toEqual([
      'fresh-one',
    ]);

    await page.fill('#filter-text', '');
    await page.selectOption('#filter-phase', 'Deleted');
    await page.locator('#empty').waitFor();
    await page.close();
  });

  it('has no accessibility violations (axe-core): the token form, the table, the confirmation, the tenant page', async () => {
    const page = await browser.newPage();
    await page.goto(`${embedded.apiUrl}/console`);
    await page.locator('#admin-token').waitFor();
    expect(await axeViolations(page)).toEqual([]);

    await page.fill('#admin-token', TEST_ADMIN_TOKEN);
    await page.click('#login button[type=submit]');
    await row(page, 'kept').waitFor();
    expect(await axeViolations(page)).toEqual([]);

    await row(page, 'kept').getByRole('button', { name: 'Extend kept' }).click();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.click('a[href="#/tenants/kept"]');
    await page.locator('#tenant-title', { hasText: 'kept' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });
});

describe('the console served on loopback for an AWS installation', () => {
  it('shows the tenants without asking for a token: its server signs the calls it forwards', async () => {
    // Stands in for the SigV4-signing forwarder: it adds the credential the page never sees.
    const server = await startConsoleServer({
      port: 0,
      host: '127.0.0.1',
      forward: async (request) => {
        const url = new URL(request.url);
        const headers = new Headers(request.headers);
        headers.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
        const body = request.method === 'GET' ? undefined : await request.text();
        return fetch(`${embedded.apiUrl}${url.pathname}${url.search}`, { method: request.method, headers, ...(body ? { body } : {}) });
      },
    });
    const page = await browser.newPage();
    try {
      await page.goto(server.url);
      await row(page, 'kept').waitFor();
      expect(await page.isHidden('#login')).toBe(true);

      await row(page, 'kept').getByRole('button', { name: 'Extend kept' }).click();
      await page.fill('#confirm-days', '30');
      await page.click('#confirm-ok');
      await page.locator('#status', { hasText: 'Extend kept: done.' }).waitFor();
      const trialEndsAt = Date.parse((await call('/tenants/kept')).body.trialEndsAt);
      expect(trialEndsAt - Date.now()).toBeGreaterThan(40 * 86_400_000);
    } finally {
      await page.close();
      await server.close();
    }
  });
});

describe('the axe-core helper', () => {
  it('reports what a page gets wrong, so the checks above can fail', async () => {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html><body><input id="nameless"><img src="data:,"></body></html>');
    const found = (await axeViolations(page)).map((violation) => violation.id);
    expect(found).toEqual(expect.arrayContaining(['html-has-lang', 'image-alt', 'label']));
    await page.close();
  });
});

describe('the signup page in chromium', () => {
  it('has no accessibility violations (axe-core), before and after a signup', async () => {
    const page = await browser.newPage();
    await page.goto(`${embedded.apiUrl}/`);
    expect(await axeViolations(page)).toEqual([]);

    await page.fill('#slug', 'axe-check');
    await page.fill('#email', 'axe-check@example.test');
    await page.click('#submit');
    await page.locator('#result').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });
});
