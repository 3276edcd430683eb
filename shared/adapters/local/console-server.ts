import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { consolePageResponse } from '../../http/console-page.js';
import { DEFAULT_BRAND, type Brand } from '../../http/page-layout.js';
import { isLoopbackHost } from './http-api.js';
import { listen } from './lambda-runtime.js';

/**
 * The operator console for an installation on AWS, the way `kubectl proxy` serves a cluster's
 * API: the page on loopback, and its API calls handed to `forward`, which signs them with the
 * operator's own credentials. No public endpoint and no new credential: whoever can run this
 * could already call the admin API. Loopback is shared by every user of the machine, so the
 * server also asks for a key made at start: the address it reports carries it once, the browser
 * keeps it as a cookie, and nothing is served or forwarded without it.
 */
export interface ConsoleServerOptions {
  /** 0 picks a free port; the real one is reported back. */
  port: number;
  /** @default '127.0.0.1' — the server holds the operator's signing power: loopback only. */
  host?: string;
  /** Sends one API request (`/tenants…`, `/plans`) to the installation and returns its answer. */
  forward: (request: Request) => Promise<Response>;
  /** @default no branding */
  brand?: Brand;
  /** @default 1_048_576 — the API's own limit: nothing larger would be accepted there. */
  maxBodyBytes?: number;
}

export interface ConsoleServer {
  /** Where the console page is, with the key: `http://127.0.0.1:<port>/console?key=…`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The API paths the page calls; nothing else is forwarded. */
const FORWARDED = /^\/(?:plans|tenants(?:\/[^/]+(?:\/(?:wake|passivate|events|logs|usage))?)?)$/;
const METHODS = new Set(['GET', 'POST', 'PATCH', 'DELETE']);

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const { port, host = '127.0.0.1', forward, brand = DEFAULT_BRAND, maxBodyBytes = 1_048_576 } = options;
  const page = consolePageResponse('proxy', brand);
  const key = randomBytes(24).toString('base64url');
  let origin = '';
  let cookieName = '';

  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      console.error('[console] could not answer a request:', error);
      if (!res.headersSent) send(res, 502, { error: { code: 'bad_gateway', message: 'The console could not reach the API.' } });
      else res.destroy();
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Another site's page may point a name of its own at 127.0.0.1 (DNS rebinding): loopback names only.
    if (!isLoopbackHost(req.headers.host)) {
      return send(res, 421, { error: { code: 'misdirected_request', message: `Open the console at ${origin}/console.` } });
    }
    const url = new URL(req.url ?? '/', origin);
    const method = (req.method ?? 'GET').toUpperCase();
    const offered = url.searchParams.get('key');
    if (offered !== null && method === 'GET' && (url.pathname === '/' || url.pathname === '/console') && sameSecret(offered, key)) {
      // The key leaves the address bar at once; the browser sends it back as a cookie (never to another site).
      res.writeHead(303, {
        location: '/console',
        'set-cookie': `${cookieName}=${key}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
        'content-length': 0,
      });
      return void res.end();
    }
    if (!sameSecret(cookieOf(req, cookieName) ?? '', key)) {
      return send(res, 401, {
        error: { code: 'unauthorized', message: 'Open the console at the address `dormouse console` printed: it carries its key.' },
      });
    }
    if (url.pathname === '/' && method === 'GET') {
      res.writeHead(302, { location: '/console', 'content-length': 0 });
      return void res.end();
    }
    if (url.pathname === '/console' && method === 'GET') {
      res.writeHead(200, { ...page.headers, 'content-length': Buffer.byteLength(page.body ?? '') });
      return void res.end(page.body);
    }
    if (!FORWARDED.test(url.pathname) || !METHODS.has(method)) {
      return send(res, 404, {
        error: { code: 'not_found', message: `The console forwards only its own API calls, not ${method} ${url.pathname}.` },
      });
    }
    // Another site's page can send a form here (a "simple" cross-site request, no preflight); it
    // must not act with the operator's credentials. Browsers name the page's origin on every
    // write and mark reads with Sec-Fetch-Site.
    const site = req.headers['sec-fetch-site'];
    const sameOrigin =
      method === 'GET' ? site === undefined || site === 'same-origin' || site === 'none' : req.headers.origin === originOf(req);
    if (!sameOrigin) {
      return send(res, 403, {
        error: { code: 'cross_site', message: 'Only the console page itself may call the API through this server.' },
      });
    }
    const body = method === 'GET' ? undefined : await readBody(req, maxBodyBytes);
    if (body === null)
      return send(res, 413, { error: { code: 'payload_too_large', message: `The request body is larger than ${maxBodyBytes} bytes.` } });
    // Only what the API needs: never the browser's cookies or other headers.
    const headers = new Headers({ accept: 'application/json' });
    if (body !== undefined && req.headers['content-type']) headers.set('content-type', req.headers['content-type']);
    const answered = await forward(new Request(url, { method, headers, ...(body !== undefined && body.length > 0 ? { body } : {}) }));
    const text = Buffer.from(await answered.arrayBuffer());
    res.writeHead(answered.status, {
      'content-type': answered.headers.get('content-type') ?? 'application/json',
      'cache-control': 'no-store',
      'content-length': text.length,
    });
    res.end(text);
  }

  const listening = await listen(server, port, host);
  origin = listening.url;
  // Cookies are not kept apart by port: one name per console server.
  cookieName = `dormouse-console-${listening.port}`;
  return {
    url: `${listening.url}/console?key=${key}`,
    port: listening.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function sameSecret(offered: string, key: string): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [cookie, ...value] = pair.trim().split('=');
    if (cookie === name) return value.join('=');
  }
  return undefined;
}

/** The origin the browser sees this server at, as it names it in Origin (`localhost` or `127.0.0.1`). */
function originOf(req: IncomingMessage): string {
  return `http://${req.headers.host ?? ''}`;
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** The whole body, or null once it grows past `limit`. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
