/**
 * Makes the README's pictures: the operator console, the signup page, a waking page and a trial's
 * self-service page, in Debian's chromium, against embedded mode with a few tenants in different
 * states and an example brand.
 *
 *   npx tsx docs/screenshots.ts        → docs/console.png, docs/signup.png, docs/waking.png, docs/manage.png
 */
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startEmbedded } from '../shared/adapters/local/embedded.js';

const ADMIN_TOKEN = 'screenshot-admin-token-0123456789';
const out = (name: string) => fileURLToPath(new URL(name, import.meta.url));

const embedded = await startEmbedded(
  {
    ...process.env,
    DORMOUSE_API_PORT: '0',
    DORMOUSE_GATEWAY_PORT: '8080',
    DORMOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
    DORMOUSE_BRAND_NAME: 'Acme Cloud',
    DORMOUSE_BRAND_ACCENT: '#0f766e',
    DORMOUSE_SUPPORT_URL: 'https://www.example.com/help',
  },
  { onNotice: () => {}, onWarning: () => {} },
);

async function api(path: string, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(`${embedded.apiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  return (await response.json()) as Record<string, unknown>;
}

async function until(id: string, phase: string) {
  for (let i = 0; i < 150 && (await api(`/tenants/${id}`)).phase !== phase; i++) await new Promise((r) => setTimeout(r, 200));
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
try {
  const tokens: Record<string, string> = {};
  for (const slug of ['acme', 'globex', 'initech', 'umbrella']) {
    tokens[slug] = String((await api('/tenants', { method: 'POST', body: { slug, email: `ops@${slug}.test` } })).token);
  }
  for (const slug of ['acme', 'globex', 'initech', 'umbrella']) await until(slug, 'Running');
  await api('/tenants/globex', { method: 'PATCH', body: { plan: 'pro' } });
  await api('/tenants/initech/passivate', { method: 'POST' });
  await until('initech', 'Passivated');

  const consolePage = await browser.newPage({ viewport: { width: 1200, height: 620 } });
  await consolePage.goto(`${embedded.apiUrl}/console`);
  await consolePage.fill('#admin-token', ADMIN_TOKEN);
  await consolePage.click('#login button[type=submit]');
  await consolePage.locator('tr[data-tenant="umbrella"]').waitFor();
  await consolePage.screenshot({ path: out('console.png'), fullPage: true });

  const signup = await browser.newPage({ viewport: { width: 760, height: 560 } });
  await signup.goto(`${embedded.apiUrl}/`);
  await signup.fill('#slug', 'hooli');
  await signup.fill('#email', 'gavin@hooli.test');
  await signup.click('#submit');
  await signup.locator('#result').waitFor();
  await signup.screenshot({ path: out('signup.png'), fullPage: true });

  const manage = await browser.newPage({ viewport: { width: 760, height: 620 } });
  await manage.goto(`${embedded.apiUrl}/manage#acme&token=${tokens.acme}`);
  await manage.locator('#state', { hasText: 'Running.' }).waitFor();
  await manage.screenshot({ path: out('manage.png'), fullPage: true });

  // Asleep: the first visit shows the waking page while it starts again.
  const waking = await browser.newPage({ viewport: { width: 760, height: 480 } });
  await waking.goto(`${embedded.gatewayUrl.replace('127.0.0.1', 'initech.localhost')}/`);
  await waking.locator('ol').waitFor();
  await waking.screenshot({ path: out('waking.png'), fullPage: true });
  console.info(`Wrote ${['console.png', 'signup.png', 'manage.png', 'waking.png'].map(out).join(', ')}`);
} finally {
  await browser.close();
  await embedded.stop();
}
