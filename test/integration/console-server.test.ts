import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startConsoleServer, type ConsoleServer } from '../../shared/adapters/local/console-server.js';

/** The console server for AWS, with a fake forward that records what it is asked to send. */
let server: ConsoleServer | undefined;
/** The cookie the browser got for the server's key, sent with every request of `send`. */
let keyCookie = '';
afterEach(async () => {
  await server?.close();
  server = undefined;
  keyCookie = '';
});

async function start(answer: (request: Request) => Response = () => Response.json({ items: [] })) {
  const forwarded: Array<{ method: string; url: string; headers: Record<string, string>; body: string }> = [];
  server = await startConsoleServer({
    port: 0,
    host: '127.0.0.1',
    forward: async (request) => {
      forwarded.push({
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body: await request.text(),
      });
      return answer(request);
    },
  });
  const origin = new URL(server.url).origin;
  const login = await send(origin, `/console${new URL(server.url).search}`, { withoutKey: true });
  keyCookie = String(login.headers['set-cookie']).split(';')[0]!;
  return { origin, forwarded, login };
}

/**
 * A raw request, so Host and Origin are exactly what a browser (or an attacker's page) would send;
 * with the key's cookie, as the browser that opened the printed address sends it, unless `withoutKey`.
 */
function send(
  origin: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; withoutKey?: boolean } = {},
) {
  const cookie = [options.withoutKey ? '' : keyCookie, options.headers?.cookie ?? ''].filter(Boolean).join('; ');
  const headers = { ...options.headers, ...(cookie ? { cookie } : {}) };
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const req = httpRequest(`${origin}${path}`, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('startConsoleServer', () => {
  it('serves the console page on loopback, which lets its server sign its calls instead of asking for a token', async () => {
    const { origin, forwarded } = await start();

    const page = await send(origin, '/console');
    const root = await send(origin, '/');

    expect(server!.url).toMatch(new RegExp(`^${origin}/console\\?key=[A-Za-z0-9_-]{32}$`));
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'/);
    expect(page.text).toContain('<body class="wide" data-auth="proxy">');
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/console');
    expect(forwarded).toEqual([]);
  });

  it('serves and forwards nothing without the key the printed address carries, which it keeps as a strict cookie', async () => {
    const { origin, login, forwarded } = await start();
    const port = new URL(origin).port;

    const bare = { withoutKey: true };
    const page = await send(origin, '/console', bare);
    const root = await send(origin, '/', bare);
    const tenants = await send(origin, '/tenants', bare);
    const write = await send(origin, '/tenants/acme/wake', { ...bare, method: 'POST', headers: { origin } });
    const wrongKey = await send(origin, '/console?key=not-the-key', bare);
    const wrongCookie = await send(origin, '/tenants', { ...bare, headers: { cookie: `dormouse-console-${port}=not-the-key` } });

    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/console');
    expect(login.headers['set-cookie']).toEqual([
      expect.stringMatching(new RegExp(`^dormouse-console-${port}=[A-Za-z0-9_-]{32}; HttpOnly; SameSite=Strict; Path=/$`)),
    ]);
    expect([page, root, tenants, write, wrongKey, wrongCookie].map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(JSON.parse(tenants.text).error.message).toBe('Open the console at the address `dormouse console` printed: it carries its key.');
    expect(forwarded).toEqual([]);
  });

  it('forwards the page’s API calls with their path, query, method and JSON body, and nothing of the browser’s', async () => {
    const { origin, forwarded } = await start(() => Response.json({ items: [{ id: 'acme' }] }, { status: 200 }));
    const host = new URL(origin).host;

    const list = await send(origin, '/tenants?limit=100&cursor=abc', {
      headers: { cookie: 'session=secret', authorization: 'Bearer x', 'sec-fetch-site': 'same-origin' },
    });
    const patch = await send(origin, '/tenants/acme', {
      method: 'PATCH',
      headers: { origin, 'content-type': 'application/json', cookie: 'session=secret' },
      body: '{"plan":"pro"}',
    });

    expect(list.status).toBe(200);
    expect(JSON.parse(list.text)).toEqual({ items: [{ id: 'acme' }] });
    expect(list.headers['cache-control']).toBe('no-store');
    expect(patch.status).toBe(200);
    expect(forwarded).toEqual([
      { method: 'GET', url: `http://${host}/tenants?limit=100&cursor=abc`, headers: { accept: 'application/json' }, body: '' },
      {
        method: 'PATCH',
        url: `http://${host}/tenants/acme`,
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: '{"plan":"pro"}',
      },
    ]);
  });

  it('passes the API’s answer on as it is, errors included', async () => {
    const { origin } = await start(() =>
      Response.json({ error: { code: 'not_found', message: 'There is no tenant nope.' } }, { status: 404 }),
    );

    const answer = await send(origin, '/tenants/nope');

    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.text).error.code).toBe('not_found');
  });

  it('refuses a write another site’s page sends (no preflight for a form), and forwards nothing', async () => {
    const { origin, forwarded } = await start();

    const fromElsewhere = await send(origin, '/tenants/acme/wake', {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
    });
    const noOrigin = await send(origin, '/tenants/acme', { method: 'DELETE' });
    const crossSiteRead = await send(origin, '/tenants', { headers: { 'sec-fetch-site': 'cross-site' } });

    expect([fromElsewhere.status, noOrigin.status, crossSiteRead.status]).toEqual([403, 403, 403]);
    expect(forwarded).toEqual([]);
  });

  it('answers only loopback names (no DNS rebinding) and forwards only the console’s own API paths', async () => {
    const { origin, forwarded } = await start();

    const rebound = await send(origin, '/tenants', { headers: { host: 'attacker.example' } });
    const other = await send(origin, '/tenants/acme/restore', { method: 'POST', headers: { origin } });
    const outbox = await send(origin, '/outbox');

    expect(rebound.status).toBe(421);
    expect(other.status).toBe(404);
    expect(outbox.status).toBe(404);
    expect(forwarded).toEqual([]);
  });
});
