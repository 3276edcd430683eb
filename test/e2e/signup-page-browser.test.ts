import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import type { Phase } from '../../shared/domain/tenant.js';
import { startTestApi } from '../support/api-server.js';
import { launchChromium } from '../support/browser.js';

/**
 * The signup page in Debian's chromium, against the embedded API over real HTTP: how often it
 * asks for the tenant's status, measured on the wire, while the tenant starts and once it ends.
 */
let browser: Browser;
let embedded: Embedded;
let store: Embedded['store'];

beforeAll(async () => {
  const started = await startTestApi();
  embedded = started.embedded;
  store = embedded.store;
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await embedded?.stop();
});

async function setPhase(slug: string, phase: Phase) {
  const tenant = (await store.get(slug))!;
  await store.save({ ...tenant, status: { ...tenant.status, phase, transitionAt: new Date().toISOString() } });
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

describe('the signup page in chromium', () => {
  it.each<[Phase, string]>([
    ['Running', 'Ready.'],
    ['Failed', 'It could not be started'],
  ])(
    'polls the status at 2 s growing to 15 s, and stops once the tenant is %s',
    async (end, shown) => {
      const slug = `browser-${end.toLowerCase()}`;
      const page = await browser.newPage();
      const polls: number[] = [];
      page.on('request', (request) => {
        if (request.method() === 'GET' && new URL(request.url()).pathname === `/tenants/${slug}`) polls.push(Date.now());
      });
      await page.goto(`${embedded.apiUrl}/`);
      await page.fill('#slug', slug);
      await page.fill('#email', `${slug}@example.test`);
      const signedUpAt = Date.now();
      await page.click('#submit');
      await page.waitForSelector('#result:not([hidden])');

      // While it starts: the tenant stays Pending (nothing runs tenants in this API) for 20 s
      // counted from the first poll.
      while (polls.length === 0) await page.waitForTimeout(50);
      await page.waitForTimeout(20_000 - (Date.now() - polls[0]!));
      const whileStarting = polls.length;
      await setPhase(slug, end);
      await page.locator('#progress').filter({ hasText: shown }).waitFor({ timeout: 20_000 });
      const stoppedAfter = polls.length;
      // Longer than the longest wait: no poll comes once the tenant has ended.
      await page.waitForTimeout(16_000);
      await page.close();

      const gaps = polls.slice(1).map((at, i) => seconds(at - polls[i]!));
      console.info(`${end}: polls at ${polls.map((at) => seconds(at - signedUpAt)).join(', ')} s after signup; gaps ${gaps.join(', ')} s`);
      // At 0, 2, 5, 9.5 and 16.25 s (the next at 26.4 s): five polls in 20 s where a poll every 2 s made eleven.
      expect(whileStarting).toBe(5);
      expect(gaps.slice(0, 4)).toEqual([2, 3, 4.5, 6.8].map((gap) => expect.closeTo(gap, 0)));
      expect(gaps.every((gap) => gap <= 15.5)).toBe(true);
      expect(polls.length).toBe(stoppedAfter);
    },
    90_000,
  );
});
