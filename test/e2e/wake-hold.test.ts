import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { embeddedTestEnv, eventually } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';
import { launchChromium } from '../support/browser.js';

const run = promisify(execFile);
const ADMIN = 'admin-token-for-tests-0123456789';
const HOLD_SECONDS = 8;

/**
 * The tenant application: answers every request with what it received, method and body
 * included. Tenants named `never-…` never listen, so they never get healthy.
 */
const ECHO_APP = `
if (process.env.TENANT_ID.startsWith('never')) setInterval(() => {}, 1e9);
else require('http').createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => res.end(JSON.stringify({ app: 'echo', tenant: process.env.TENANT_ID, method: req.method, url: req.url, body })));
}).listen(+process.env.PORT, '127.0.0.1');
`;

/**
 * What each kind of client sees when it reaches a sleeping tenant in embedded mode, with real
 * processes over real HTTP: curl and other programmatic clients are held and sent on with 307
 * once the tenant serves; a browser gets the waking page, which loads the app by itself.
 */
describe('every client gets through a wake, in embedded mode', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  let port: string;

  beforeAll(async () => {
    const tables = await createTestTables();
    embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_SWEEP_SECONDS: '3600',
        DORMOUSE_IDLE_SECONDS: '1',
        DORMOUSE_MIN_RUN_SECONDS: '1',
        DORMOUSE_WAKE_HOLD_SECONDS: String(HOLD_SECONDS),
        DORMOUSE_TENANT_COMMAND: `'${process.execPath}' -e "${ECHO_APP.replace(/\n/g, ' ')}"`,
      },
      { onError: () => {} },
    );
    call = apiClient(embedded.apiUrl);
    port = new URL(embedded.gatewayUrl).port;
  }, 60_000);

  afterAll(async () => {
    await embedded?.stop();
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`, { token: ADMIN })).body.phase as string;

  async function signUp(slug: string, phase = 'Running') {
    await call('/tenants', { method: 'POST', body: { slug, email: `${slug}@example.test` } });
    await eventually(
      `${slug} ${phase}`,
      () => phaseOf(slug),
      (seen) => seen === phase,
    );
  }

  async function putToSleep(slug: string) {
    expect((await call(`/tenants/${slug}/passivate`, { method: 'POST', token: ADMIN })).status).toBe(202);
    await eventually(
      `${slug} asleep`,
      () => phaseOf(slug),
      (phase) => phase === 'Passivated',
    );
  }

  /** Real curl, resolving the tenant's host to the gateway as DNS would. */
  async function curl(slug: string, path: string, ...args: string[]) {
    const started = Date.now();
    const { stdout } = await run('curl', [
      '-sS',
      '--resolve',
      `${slug}.localhost:${port}:127.0.0.1`,
      '-w',
      '\\n%{http_code} %{num_redirects}',
      ...args,
      `http://${slug}.localhost:${port}${path}`,
    ]);
    const lines = stdout.split('\n');
    const [status, redirects] = lines.pop()!.split(' ').map(Number);
    return { body: lines.join('\n'), status, redirects, ms: Date.now() - started };
  }

  it('answers `curl -sL` on a sleeping tenant with the app’s answer, in one command', async () => {
    await signUp('sleepy');
    await putToSleep('sleepy');

    const answer = await curl('sleepy', '/hello?x=1', '-L');

    expect(answer.status).toBe(200);
    expect(answer.redirects).toBe(1);
    expect(JSON.parse(answer.body)).toMatchObject({ app: 'echo', tenant: 'sleepy', method: 'GET', url: '/hello?x=1' });
    expect(await phaseOf('sleepy')).toBe('Running');
    console.info(`curl -sL on a sleeping tenant: the app's answer after ${answer.ms} ms`);
  }, 60_000);

  it('holds a POST with a body, and its 307 brings the same POST, body included, to the app', async () => {
    await signUp('hooked');
    await putToSleep('hooked');

    const answer = await curl(
      'hooked',
      '/webhook',
      '-L',
      '--data-binary',
      '{"event":"paid","amount":42}',
      '-H',
      'content-type: application/json',
    );

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ method: 'POST', url: '/webhook', body: '{"event":"paid","amount":42}' });
  }, 60_000);

  it('answers 503 with Retry-After when the hold runs out before the tenant serves', async () => {
    await signUp('never-ready', 'Provisioning');

    const answer = await curl('never-ready', '/', '-i');

    expect(answer.status).toBe(503);
    expect(answer.body).toMatch(/^retry-after: 5\r?$/im);
    expect(answer.ms).toBeGreaterThanOrEqual(HOLD_SECONDS * 1000);
    expect(answer.ms).toBeLessThan((HOLD_SECONDS + 3) * 1000);
  }, 60_000);

  describe('in Debian’s chromium', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
    });

    it('shows the waking page with its steps, and loads the app by itself the moment it serves', async () => {
      await signUp('visited');
      await putToSleep('visited');
      const page = await browser.newPage();
      const problems: string[] = [];
      // The waking page itself is a 503, which chromium logs as a failed load; anything else counts.
      page.on('console', (message) => {
        if (message.type() === 'error' && !/status of 503/.test(message.text())) problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));

      const started = Date.now();
      const first = await page.goto(`http://visited.localhost:${port}/dashboard`);
      expect(first?.status()).toBe(503);
      expect(await page.title()).toBe('Waking up visited…');
      expect(await page.locator('ol li').allTextContents()).toEqual([
        'Waking it up',
        'Starting its server',
        'Starting the application',
        'Opening it',
      ]);
      // The app's own answer, in the same tab, with no click and no meta refresh.
      await page.locator('body').filter({ hasText: '"app":"echo"' }).waitFor({ timeout: 20_000 });
      const shown = JSON.parse(await page.locator('body').innerText());
      console.info(`chromium on a sleeping tenant: the app shown ${Date.now() - started} ms after the navigation`);
      await page.close();

      expect(shown).toMatchObject({ app: 'echo', tenant: 'visited', method: 'GET', url: '/dashboard' });
      // The page's script and style ran under its hash-based CSP, without a violation.
      expect(problems).toEqual([]);
    }, 60_000);
  });
});
