import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import { Agent } from 'undici';

export interface HttpForwarderOptions {
  /** How long a tenant may take to send its answer's headers, or go quiet within its body. */
  timeoutMs: number;
  /** How long an idle connection to a tenant is kept for the next request. */
  idleMs: number;
}

export interface HttpForwarder {
  /**
   * Sends the visitor's request to `target` (`host:port`) and streams the answer back. `onError`
   * is called once, when the tenant could not be reached, sent no answer within the timeout
   * (`timedOut`) or failed mid-answer; not when the visitor went away. The request's target must
   * be a path (see `originForm`).
   */
  forward(req: IncomingMessage, res: ServerResponse, target: string, onError: (error: Error, timedOut: boolean) => void): void;
  close(): Promise<void>;
}

/**
 * Connection-scoped headers: they describe one hop, so neither the visitor's nor the tenant's are
 * passed on (RFC 9110 §7.6.1). `expect` too: Node's server has already answered `100 Continue`.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

/** Set below from the visitor's own values and the connection. */
const X_FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * Plain HTTP requests to tenants, over undici's kept-alive connection pools. undici's `stream`
 * writes the tenant's answer straight into the visitor's response, with backpressure both ways.
 * Measured on a 2-core machine, it costs about two thirds of the CPU per request of http-proxy-3
 * over node:http (see the README's benchmarks).
 */
export function createHttpForwarder({ timeoutMs, idleMs }: HttpForwarderOptions): HttpForwarder {
  const agent = new Agent({
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // A tenant's own Keep-Alive hint can only shorten this, never lengthen it.
    keepAliveTimeout: idleMs,
    keepAliveMaxTimeout: idleMs,
  });
  return {
    forward(req, res, target, onError) {
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      // undici aborts the tenant's request on `abort` (it takes an EventEmitter as a signal, lighter
      // than an AbortController per request). The answer closed unfinished without an error of its
      // own means the visitor went away; undici destroys it with the tenant's error otherwise.
      const visitorLeft = new EventEmitter();
      let left = false;
      res.once('close', () => {
        if (res.writableFinished || res.errored) return;
        left = true;
        visitorLeft.emit('abort');
      });
      agent.stream(
        {
          origin: `http://${target}`,
          path: req.url ?? '/',
          method: req.method ?? 'GET',
          headers: forwardedHeaders(req),
          body: hasBody ? req : null,
          signal: visitorLeft,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, answerHeaders(headers));
          return res;
        },
        (error) => {
          // A visitor who left is not the tenant's failure: undici has already aborted its request.
          if (error && !left) onError(error, (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT');
        },
      );
    },
    close: () => agent.destroy(),
  };
}

/**
 * A request target as the tenant should get it: a path. An absolute-form target (`GET
 * http://other.example/x`) becomes its path, since the gateway routed the request by its Host and
 * the tenant must not read another authority from it; undefined for any other form (`OPTIONS *`).
 */
export function originForm(target: string): string | undefined {
  if (target.startsWith('/')) return target;
  try {
    const url = new URL(target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? `${url.pathname}${url.search}` : undefined;
  } catch {
    return undefined;
  }
}

/** The header names a `Connection` header lists: hop-by-hop too (RFC 9110 §7.6.1). */
function connectionOptions(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const names = String(value)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name && name !== 'keep-alive' && name !== 'close');
  return names.length ? new Set(names) : undefined;
}

/**
 * The visitor's headers as the tenant should see them: Host kept, hop-by-hop ones dropped, and
 * `x-forwarded-for`, `-port` and `-proto` appended to, `x-forwarded-host` set if absent, as
 * http-proxy-3 (which tunnels WebSockets) does.
 */
function forwardedHeaders(req: IncomingMessage): string[] {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  const named = connectionOptions(req.headers.connection);
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || X_FORWARDED.has(name) || named?.has(name)) continue;
    headers.push(raw[index]!, raw[index + 1]!);
  }
  const encrypted = req.socket instanceof TLSSocket && req.socket.encrypted;
  const hostHeader = req.headers.host ?? '';
  const values = {
    for: req.socket.remoteAddress ?? '',
    port: /:(\d+)/.exec(hostHeader)?.[1] ?? (encrypted ? '443' : '80'),
    proto: encrypted ? 'https' : 'http',
  };
  for (const [key, value] of Object.entries(values)) {
    const earlier = req.headers[`x-forwarded-${key}`];
    headers.push(`x-forwarded-${key}`, earlier ? `${String(earlier)},${value}` : value);
  }
  const forwardedHost = req.headers['x-forwarded-host'];
  headers.push('x-forwarded-host', typeof forwardedHost === 'string' && forwardedHost ? forwardedHost : hostHeader);
  return headers;
}

/** The tenant's answer headers without its hop-by-hop ones: Node frames the visitor's answer itself. */
function answerHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = connectionOptions(headers.connection);
  // Only those present: deleting an absent key would still cost each answer a lookup per name.
  for (const name of Object.keys(headers)) if (HOP_BY_HOP.has(name) || named?.has(name)) delete headers[name];
  return headers;
}
