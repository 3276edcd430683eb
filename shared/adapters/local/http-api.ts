import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { listen, localLambdaContext } from './lambda-runtime.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

export type HttpApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HttpApiOptions {
  /** 0 picks a free port; the real one is reported back. */
  port: number;
  /** @default '127.0.0.1' — loopback only: this stand-in has no authentication. */
  host?: string;
  /** @default 1_048_576 */
  maxBodyBytes?: number;
  /** @default 'dormouse-api' */
  functionName?: string;
  /** How long the handler may run before the caller gets a 503, as with the integration timeout. @default 30_000 */
  timeoutMs?: number;
  /**
   * Answers some requests itself, streaming, before the handler sees them: downloads and uploads
   * of tenant data, far larger than a handler's body. Resolves to false for the others.
   */
  streamed?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export interface HttpApiServer {
  url: string;
  port: number;
  /** Stops accepting, drops idle keep-alive connections, resolves once the server is closed. */
  close(): Promise<void>;
}

/**
 * Serves a Lambda handler over plain HTTP the way an API Gateway HTTP API with a `$default`
 * route and payload format 2.0 would call it, so `npm start` runs the same handler code as AWS.
 */
export async function serveHttpApi(handler: HttpApiHandler, options: HttpApiOptions): Promise<HttpApiServer> {
  const { port, host = '127.0.0.1', maxBodyBytes = 1_048_576, functionName = 'dormouse-api', timeoutMs = 30_000 } = options;

  let closing = false;
  // As the gateway: a client that trickles its headers (10 s) or never ends its request (60 s) is
  // dropped, checked every second rather than Node's default 30 s.
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 60_000, connectionsCheckingInterval: 1_000 }, (req, res) => {
    // A connection answered after close() began would otherwise idle until its keep-alive timeout.
    res.once('finish', () => {
      if (closing) server.closeIdleConnections();
    });
    handleRequest(req, res).catch((error: unknown) => {
      console.error('[http-api] could not answer a request:', error);
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });

  // Requests Node's parser refuses (unknown method, raw non-ASCII, huge head) and unknown
  // Expect values get the API's JSON error shape instead of Node's empty answers.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const [status, problem] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? ['431 Request Header Fields Too Large', { code: 'headers_too_large', message: 'The request headers are too large.' }]
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ['408 Request Timeout', { code: 'request_timeout', message: 'The request was not sent in time.' }]
          : ['400 Bad Request', { code: 'bad_request', message: 'The request could not be parsed as HTTP.' }];
    const body = JSON.stringify({ error: problem });
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  server.on('checkExpectation', (_req, res) => {
    sendJson(res, 417, { error: { code: 'expectation_failed', message: 'Only "Expect: 100-continue" is supported.' } });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = new Date();
    // A web page can point a name of its own at 127.0.0.1 (DNS rebinding) and read what this
    // unauthenticated stand-in serves, the outbox included: only loopback names are answered.
    if (!isLoopbackHost(req.headers.host)) {
      return sendJson(res, 421, {
        error: { code: 'misdirected_request', message: 'Use http://127.0.0.1 or http://localhost to reach this API.' },
      });
    }
    if (options.streamed && (await options.streamed(req, res))) return;
    // API Gateway refuses oversized payloads before Lambda runs; trust Content-Length to refuse
    // without reading anything, and count bytes anyway for chunked bodies that declare none.
    if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) return refuseTooLarge(res, maxBodyBytes);
    const body = await readBody(req, maxBodyBytes);
    if (body === CLIENT_GONE) return;
    if (body === TOO_LARGE) return refuseTooLarge(res, maxBodyBytes);

    const requestId = randomUUID();
    const event = toEvent(req, body, requestId, receivedAt);
    const context = localLambdaContext(functionName, requestId, timeoutMs);
    res.setHeader('apigw-requestid', requestId);

    let result: APIGatewayProxyStructuredResultV2 | typeof TIMED_OUT;
    try {
      result = await invokeWithTimeout(handler, event, context, timeoutMs);
    } catch (error) {
      // Like API Gateway: the caller learns nothing of the failure, the log gets all of it.
      console.error(`[http-api] ${functionName} failed on request ${requestId}:`, error);
      return sendJson(res, 500, { message: 'Internal Server Error' });
    }
    if (result === TIMED_OUT) {
      console.error(`[http-api] ${functionName} did not answer request ${requestId} within ${timeoutMs} ms`);
      return sendJson(res, 503, { message: 'Service Unavailable' });
    }
    writeResult(res, result);
  }

  const { port: actualPort, url } = await listen(server, port, host);

  return {
    url,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        // Requests in flight get their answer, which comes within timeoutMs (or is a 503); past
        // that, only a client stalled mid-request is left, and it must not hold up shutdown.
        const deadline = setTimeout(() => server.closeAllConnections(), timeoutMs).unref();
        server.close((error) => {
          clearTimeout(deadline);
          if (error) reject(error);
          else resolve();
        });
        // server.close() alone would wait for idle keep-alive sockets to time out.
        server.closeIdleConnections();
      }),
  };
}

/** `localhost`, `127.x.x.x` or `[::1]`, with any port; no Host at all (HTTP/1.0) is let through. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return name === 'localhost' || name === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

const TOO_LARGE = Symbol('too large');
const CLIENT_GONE = Symbol('client gone');
const TIMED_OUT = Symbol('timed out');

/** Reads the whole body, or stops as soon as it grows past `limit`. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE | typeof CLIENT_GONE> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    // Nobody is left to answer when the client hangs up mid-body; 'close' after 'end' changes nothing.
    req.once('error', () => resolve(CLIENT_GONE));
    req.once('close', () => resolve(CLIENT_GONE));
  });
}

function refuseTooLarge(res: ServerResponse, limit: number): void {
  // The rest of the body stays unread, so this connection cannot carry another request:
  // Node closes it once the answer is written.
  res.setHeader('connection', 'close');
  sendJson(res, 413, {
    error: { code: 'payload_too_large', message: `The request body is larger than ${limit} bytes.` },
  });
}

function sendJson(res: ServerResponse, statusCode: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function toEvent(req: IncomingMessage, body: Buffer, requestId: string, receivedAt: Date): APIGatewayProxyEventV2 {
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);

  // Built from rawHeaders because Node joins repeats with ', ' (and cookies with '; '),
  // where API Gateway joins them with ','.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    // Format 2.0 moves cookies out of the headers into their own array.
    if (name === 'cookie')
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean),
      );
    else headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  // API Gateway appends the caller to X-Forwarded-For and says how it was reached.
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']},${sourceIp}` : sourceIp;
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  headers['x-forwarded-proto'] = 'http';

  // A Map, then own properties: a parameter named `__proto__` must stay a parameter, as it does
  // in the JSON API Gateway sends.
  const joined = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(rawQueryString)) {
    joined.set(key, joined.has(key) ? `${joined.get(key)},${value}` : value);
  }
  const queryStringParameters: Record<string, string> = Object.fromEntries(joined);

  // API Gateway's domainName never carries a port.
  const domainName = (headers.host ?? '').replace(/:\d+$/, '');
  const isText = isTextual(headers['content-type']);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(joined.size > 0 ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? '',
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: apiGatewayTime(receivedAt),
      timeEpoch: receivedAt.getTime(),
    },
    ...(body.length > 0 ? { body: body.toString(isText ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

/** The content types API Gateway passes as text; anything else (or none) arrives base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/xml'
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the format of requestContext.time. */
function apiGatewayTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}`;
  return `${day}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/**
 * Resolves with the handler's result, or TIMED_OUT once `timeoutMs` has passed. A late handler
 * keeps running (a process cannot stop a promise), but its answer is dropped, as API Gateway
 * drops it.
 */
async function invokeWithTimeout(
  handler: HttpApiHandler,
  event: APIGatewayProxyEventV2,
  context: Context,
  timeoutMs: number,
): Promise<APIGatewayProxyStructuredResultV2 | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
  });
  try {
    // The extra `then` turns a handler that throws synchronously into a rejection.
    return await Promise.race([Promise.resolve().then(() => handler(event, context)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  // Format 2.0 has no multiValueHeaders; like API Gateway, they are ignored.
  // Each cookie becomes its own Set-Cookie header: they cannot be joined with commas.
  if (result.cookies && result.cookies.length > 0) {
    const existing = res.getHeader('set-cookie');
    const earlier = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
    res.setHeader('set-cookie', [...earlier, ...result.cookies]);
  }
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  res.setHeader('content-length', body.length);
  res.statusCode = result.statusCode ?? 200;
  res.end(body);
}
