import { listen } from './lambda-runtime.js';
import { createServer, ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { hostname, type RouteLookup } from './gateway-routing.js';
import { createHttpForwarder, originForm } from './http-forwarder.js';
import { LocalActivity } from './local-activity.js';

export type GatewayFallback = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface GatewayOptions {
  /** 0 picks a free port; the real one is reported back. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  routing: RouteLookup;
  /** Tenants are `<slug>.<rootDomain>`; other hosts go straight to the fallback. @default 'localhost' */
  rootDomain?: string;
  /**
   * The default action, like the ALB's: every request with no rule or no healthy target
   * (the wake use case in embedded mode). WebSocket upgrades get it too, answered over
   * their socket.
   */
  fallback: GatewayFallback;
  /**
   * The one routing shard this gateway acts as, like one of several load balancers: hosts whose
   * rule is on another shard get the default action. @default every shard, as DNS would send each
   * host to its own shard's load balancer
   */
  shard?: number;
  /** Counts traffic; shared by gateways that act as shards of one installation. @default a new one */
  activity?: LocalActivity;
  /** How long a tenant may take to answer before the caller gets a 504. @default 60_000 (the ALB idle timeout) */
  proxyTimeoutMs?: number;
  /** How long a client may take to send its request headers before it gets a 408 and is dropped. @default 10_000 */
  headersTimeoutMs?: number;
  /** How long a client may take to send its whole request, body included. @default 60_000 */
  requestTimeoutMs?: number;
  /**
   * Open connections at most (WebSockets and idle kept-alive ones included); further ones are
   * closed at once. @default 1_000
   */
  maxConnections?: number;
  /**
   * How long a visitor's idle connection stays open for its next request. Node's default: long
   * enough for a page's follow-up requests to reuse the connection, short enough that idle
   * connections a browser keeps do not pile up against maxConnections. @default 5_000
   */
  keepAliveTimeoutMs?: number;
  /**
   * How long an idle connection to a tenant is kept for the next request. Below the keep-alive
   * timeout of common app servers (gunicorn 2 s, Node and uvicorn 5 s), so the gateway drops an
   * idle connection before the tenant does and never sends a request on one being closed.
   * @default 1_000
   */
  upstreamIdleMs?: number;
  /** @default console */
  logger?: Pick<Console, 'warn' | 'error'>;
}

export interface Gateway {
  url: string;
  port: number;
  /** Requests per tenant since the previous read, and requests under way or WebSockets open now. */
  activity(): LocalActivity;
  /** Stops accepting, closes every open connection (WebSockets included), resolves once closed. */
  close(): Promise<void>;
}

/**
 * The load balancer of embedded mode: routes `Host: <slug>.localhost[:port]` to the tenant's
 * process by the routes of a RouteLookup (plain HTTP through an HttpForwarder, WebSockets
 * tunnelled by http-proxy-3, both with x-forwarded-* headers), and counts each tenant's traffic
 * for the idle sweep.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const {
    port,
    host = '127.0.0.1',
    routing,
    rootDomain = 'localhost',
    fallback,
    proxyTimeoutMs = 60_000,
    headersTimeoutMs = 10_000,
    requestTimeoutMs = 60_000,
    maxConnections = 1_000,
    keepAliveTimeoutMs = 5_000,
    upstreamIdleMs = 1_000,
    logger = console,
    shard,
    activity = new LocalActivity(),
  } = options;
  const domainSuffix = `.${rootDomain.toLowerCase()}`;
  // Connections to tenants are reused, as an ALB reuses its connections to targets: opening one
  // per request cost most of the latency the gateway added. WebSockets keep a connection of their own.
  const forwarder = createHttpForwarder({ timeoutMs: proxyTimeoutMs, idleMs: upstreamIdleMs });
  const proxy = createProxyServer({ xfwd: true });
  // Every call passes its own error callback; this only keeps a stray error from crashing us.
  proxy.on('error', (error) => logger.warn('[gateway] proxy error', error));

  const route = (req: IncomingMessage) => {
    const name = hostname(req.headers.host ?? '');
    return name.endsWith(domainSuffix) && name.length > domainSuffix.length ? routing.route(name, shard) : undefined;
  };

  const runFallback = (req: IncomingMessage, res: ServerResponse) => {
    fallback(req, res).catch((error: unknown) => {
      logger.error('[gateway] the fallback failed', error);
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  };

  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      // Node looks for overdue requests only this often (30 s by default), which is what let a
      // slow header sender hold a connection for over a minute.
      connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
      // Visitors keep their connections, as with the ALB: a TCP connection per request was most
      // of the latency the gateway added. Idle ones are not activity (see LocalActivity).
      keepAliveTimeout: keepAliveTimeoutMs,
    },
    (req, res) => {
      const refused = refusal(req);
      if (refused) {
        res.shouldKeepAlive = false;
        return sendText(res, 400, `Bad Request: ${refused}`);
      }
      const match = route(req);
      if (!match) return runFallback(req, res);
      // Counted until the answer ends, not while the connection waits idle for another request.
      activity.record(match.tenantId, res);
      forwarder.forward(req, res, match.target, (error, timedOut) => {
        // The tenant's process went away mid-request, refused the connection, or took too long.
        const code = (error as NodeJS.ErrnoException).code ?? error.message;
        logger.warn(`[gateway] ${match.tenantId} at ${match.target}: ${error.message}`);
        if (res.headersSent) {
          res.destroy();
        } else if (timedOut) {
          sendText(res, 504, `Gateway Timeout: the application of ${match.tenantId} did not answer within ${proxyTimeoutMs / 1000} s.`);
        } else {
          sendText(res, 502, `Bad Gateway: the application of ${match.tenantId} did not answer (${code}).`);
        }
      });
    },
  );
  // Past the cap Node closes new connections at once, so a flood cannot exhaust file descriptors.
  server.maxConnections = maxConnections;

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // Once upgraded, the socket is ours: an error on it must not become an uncaught one.
    socket.on('error', () => socket.destroy());
    if (refusal(req)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const match = route(req);
    if (!match) {
      // The fallback answers over the raw socket, as it would a plain request; no upgrade follows.
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      res.once('finish', () => socket.end());
      runFallback(req, res);
      return;
    }
    activity.record(match.tenantId, socket);
    proxy.ws(req, socket, head, { target: `http://${match.target}` }, (error) => {
      logger.warn(`[gateway] ${match.tenantId} at ${match.target} (WebSocket): ${error.message}`);
      if (!socket.destroyed && socket.writable && socket.bytesWritten === 0) {
        socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      } else {
        socket.destroy();
      }
    });
  });

  // Upgraded sockets leave the server's bookkeeping, so closeAllConnections() misses them.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const { port: actualPort, url } = await listen(server, port, host);

  let closing: Promise<void> | undefined;
  return {
    url,
    port: actualPort,
    activity: () => activity,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        forwarder.close().catch(() => {});
      })),
  };
}

/**
 * Why a request is refused, if it is; its target is put in origin form (see `originForm`) for
 * the tenant and the fallback alike.
 */
function refusal(req: IncomingMessage): string | undefined {
  if (ambiguousHost(req)) return 'exactly one Host header is expected.';
  const path = originForm(req.url ?? '');
  if (path === undefined) return 'the request target must be a path.';
  req.url = path;
  return undefined;
}

/**
 * Two Host headers could be read one way here and another way by the tenant or a proxy in
 * between (Node keeps the first): such a request is refused, as HTTP/1.1 requires.
 */
function ambiguousHost(req: IncomingMessage): boolean {
  // Counted in the raw headers: `headersDistinct` would build an object of every header per request.
  let hosts = 0;
  for (let index = 0; index < req.rawHeaders.length; index += 2) {
    if (req.rawHeaders[index]!.length === 4 && req.rawHeaders[index]!.toLowerCase() === 'host') hosts += 1;
  }
  return hosts > 1;
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
