import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serveHttpApi } from '../../shared/adapters/local/http-api.js';
import type { HttpApiHandler, HttpApiOptions } from '../../shared/adapters/local/http-api.js';

interface Echo {
  event: APIGatewayProxyEventV2;
  context: Pick<Context, 'awsRequestId' | 'functionName' | 'functionVersion' | 'invokedFunctionArn'> & {
    remainingMs: number;
  };
}

/** Answers with the event and context it was called with, so tests can look at both. */
const echo: HttpApiHandler = async (event, context) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    event,
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      remainingMs: context.getRemainingTimeInMillis(),
    },
  } satisfies Echo),
});

const servers: Array<{ close(): Promise<void> }> = [];

async function serve(handler: HttpApiHandler, options: Partial<HttpApiOptions> = {}) {
  const api = await serveHttpApi(handler, { port: 0, ...options });
  servers.push(api);
  return api;
}

async function echoed(response: Response): Promise<Echo> {
  expect(response.status).toBe(200);
  return (await response.json()) as Echo;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('serveHttpApi', () => {
  it('listens on loopback and reports the port it got when asked for port 0', async () => {
    const api = await serve(echo);

    expect(api.port).toBeGreaterThan(0);
    expect(api.url).toBe(`http://127.0.0.1:${api.port}`);
  });

  it('answers only loopback names, so a page that rebinds its own name to 127.0.0.1 reads nothing', async () => {
    const calls: string[] = [];
    const api = await serve(async (event, context) => {
      calls.push(event.rawPath);
      return echo(event, context);
    });
    const withHost = (host: string) =>
      new Promise<number>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: api.port, path: '/outbox', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });

    expect(await withHost('attacker.example:' + api.port)).toBe(421);
    expect(await withHost('127.0.0.1.attacker.example')).toBe(421);
    expect(calls).toEqual([]);
    expect(await withHost(`127.0.0.1:${api.port}`)).toBe(200);
    expect(await withHost(`localhost:${api.port}`)).toBe(200);
    expect(calls).toEqual(['/outbox', '/outbox']);
  });

  it('drops a client that has not finished its headers after 10 s', async () => {
    const api = await serve(echo);
    const socket = connect(api.port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const startedAt = Date.now();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });

    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - startedAt).toBeLessThan(25_000);
  }, 40_000);

  describe('the event handed to the handler', () => {
    it('describes a request the way API Gateway payload format 2.0 does for the $default route', async () => {
      const api = await serve(echo);

      const { event } = await echoed(await fetch(`${api.url}/tenants/acme?view=full`, { method: 'DELETE' }));

      expect(event).toMatchObject({
        version: '2.0',
        routeKey: '$default',
        rawPath: '/tenants/acme',
        rawQueryString: 'view=full',
        isBase64Encoded: false,
        requestContext: {
          accountId: 'local',
          apiId: 'local',
          domainName: '127.0.0.1',
          routeKey: '$default',
          stage: '$default',
          http: { method: 'DELETE', path: '/tenants/acme', protocol: 'HTTP/1.1' },
        },
      });
      expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
      expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5_000);
    });

    it('omits body, cookies and queryStringParameters when the request has none', async () => {
      const api = await serve(echo);

      const { event } = await echoed(await fetch(`${api.url}/tenants`));

      expect(event.rawQueryString).toBe('');
      expect(event).not.toHaveProperty('body');
      expect(event).not.toHaveProperty('cookies');
      expect(event).not.toHaveProperty('queryStringParameters');
    });

    it('joins repeated query parameters with commas and keeps the raw query string as sent', async () => {
      const api = await serve(echo);

      const { event } = await echoed(await fetch(`${api.url}/search?tag=a&tag=b%20c&plan=trial`));

      expect(event.rawQueryString).toBe('tag=a&tag=b%20c&plan=trial');
      expect(event.queryStringParameters).toEqual({ tag: 'a,b c', plan: 'trial' });
    });

    it('lowercases header names and joins repeated headers with commas', async () => {
      const api = await serve(echo);

      // fetch folds repeated headers into one line itself, so node:http sends two real lines here.
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(`${api.url}/`, { headers: { 'X-Trace-Hop': ['one', 'two'], 'X-Tenant': 'acme' } });
        req.on('response', (res) => {
          let text = '';
          res
            .setEncoding('utf8')
            .on('data', (chunk: string) => (text += chunk))
            .on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      const { event } = JSON.parse(body) as Echo;

      expect(event.headers['x-trace-hop']).toBe('one,two');
      expect(event.headers['x-tenant']).toBe('acme');
      expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    });

    it('moves cookies out of the headers into a cookies array', async () => {
      const api = await serve(echo);

      const { event } = await echoed(await fetch(api.url, { headers: { Cookie: 'session=abc; theme=dark' } }));

      expect(event.cookies).toEqual(['session=abc', 'theme=dark']);
      expect(event.headers).not.toHaveProperty('cookie');
    });

    it('passes a JSON body as text', async () => {
      const api = await serve(echo);

      const { event } = await echoed(
        await fetch(api.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ slug: 'café' }),
        }),
      );

      expect(event.isBase64Encoded).toBe(false);
      expect(event.body).toBe('{"slug":"café"}');
    });

    it('passes a body of a binary content type base64-encoded', async () => {
      const api = await serve(echo);
      const bytes = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);

      const { event } = await echoed(await fetch(api.url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: bytes }));

      expect(event.isBase64Encoded).toBe(true);
      expect(Buffer.from(event.body ?? '', 'base64')).toEqual(Buffer.from(bytes));
    });

    it('names the loopback caller as sourceIp and gives the context the same request id', async () => {
      const api = await serve(echo, { functionName: 'signup', timeoutMs: 10_000 });

      const { event, context } = await echoed(await fetch(api.url, { headers: { 'user-agent': 'spec/1.0' } }));

      expect(event.requestContext.http.sourceIp).toBe('127.0.0.1');
      expect(event.requestContext.http.userAgent).toBe('spec/1.0');
      expect(event.requestContext.requestId).toMatch(/\S/);
      expect(context.awsRequestId).toBe(event.requestContext.requestId);
      expect(context).toMatchObject({
        functionName: 'signup',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:signup',
      });
      expect(context.remainingMs).toBeGreaterThan(9_000);
      expect(context.remainingMs).toBeLessThanOrEqual(10_000);
    });
  });

  describe('the response', () => {
    it('maps status, headers and cookies, each cookie as its own Set-Cookie header', async () => {
      const api = await serve(async () => ({
        statusCode: 201,
        headers: { 'Content-Type': 'application/json', 'X-Tenant-Generation': 3 },
        cookies: ['session=abc; HttpOnly', 'theme=dark; Path=/'],
        body: '{"slug":"acme"}',
      }));

      const response = await fetch(api.url, { method: 'POST' });

      expect(response.status).toBe(201);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('x-tenant-generation')).toBe('3');
      expect(response.headers.getSetCookie()).toEqual(['session=abc; HttpOnly', 'theme=dark; Path=/']);
      expect(await response.text()).toBe('{"slug":"acme"}');
    });

    it('decodes a base64-encoded body into bytes', async () => {
      const bytes = Buffer.from([0x00, 0x01, 0xfe, 0xff]);
      const api = await serve(async () => ({
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes.toString('base64'),
        isBase64Encoded: true,
      }));

      const response = await fetch(api.url);

      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
    });

    it('ignores multiValueHeaders, which payload format 2.0 does not have', async () => {
      const api = await serve(async () => ({ statusCode: 204, multiValueHeaders: { vary: ['origin', 'cookie'] } }) as never);

      const response = await fetch(api.url);

      expect(response.status).toBe(204);
      expect(response.headers.get('vary')).toBeNull();
    });
  });

  describe('a request body larger than maxBodyBytes', () => {
    const tooLarge = {
      error: { code: 'payload_too_large', message: 'The request body is larger than 1024 bytes.' },
    };

    it('is refused with 413 from its Content-Length, without calling the handler', async () => {
      const handler = vi.fn(echo);
      const api = await serve(handler, { maxBodyBytes: 1024 });

      const response = await fetch(api.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'x'.repeat(1025),
      });

      expect(response.status).toBe(413);
      expect(await response.json()).toEqual(tooLarge);
      expect(handler).not.toHaveBeenCalled();
    });

    it('is refused on its Content-Length alone, before any of the body arrives', async () => {
      const handler = vi.fn(echo);
      const api = await serve(handler, { maxBodyBytes: 1024 });

      // Only the head is sent: an answer can come only from reading Content-Length.
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(api.port, '127.0.0.1', () => {
          socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\n');
        });
        let text = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });

      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual(tooLarge);
      expect(handler).not.toHaveBeenCalled();
    });

    it('is refused with 413 once a chunked body passes the limit, without calling the handler', async () => {
      const handler = vi.fn(echo);
      const api = await serve(handler, { maxBodyBytes: 1024 });
      // A stream that never ends: the answer can only come if reading stops at the limit.
      const endless = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          controller.enqueue(new Uint8Array(512).fill(120));
        },
      });

      const response = await fetch(api.url, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: endless,
        duplex: 'half',
      } as RequestInit);

      expect(response.status).toBe(413);
      expect(await response.json()).toEqual(tooLarge);
      expect(handler).not.toHaveBeenCalled();
    });

    it('lets a body of exactly maxBodyBytes through', async () => {
      const api = await serve(echo, { maxBodyBytes: 1024 });

      const { event } = await echoed(
        await fetch(api.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1024) }),
      );

      expect(event.body).toHaveLength(1024);
    });
  });

  describe('a failing handler', () => {
    it('answers 500 with a generic message and logs the error', async () => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
      const failure = new Error('table Tenants-secret-name not found');
      const api = await serve(async () => {
        throw failure;
      });

      const response = await fetch(api.url);

      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ message: 'Internal Server Error' });
      expect(logged).toHaveBeenCalledWith(expect.any(String), failure);
    });

    it('answers 503 when the handler runs longer than timeoutMs', async () => {
      vi.spyOn(console, 'error').mockImplementation(() => undefined);
      const api = await serve(() => new Promise(() => undefined), { timeoutMs: 100 });

      const startedAt = Date.now();
      const response = await fetch(api.url);

      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ message: 'Service Unavailable' });
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(90);
    });
  });

  describe('close', () => {
    it('resolves promptly while a keep-alive connection is open, and closes that connection', async () => {
      const api = await serveHttpApi(echo, { port: 0 });
      const agent = new Agent({ keepAlive: true });
      const socketClosed = new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${api.url}/`, { agent }, (res) => {
          res.resume();
          res.on('end', () => req.socket?.once('close', () => resolve()));
        });
        req.on('error', reject);
        req.end();
      });
      // Wait until the request is answered and its connection sits idle in the agent's pool.
      await vi.waitFor(() => expect(Object.keys(agent.freeSockets)).toHaveLength(1));

      // The server's keep-alive timeout is 5 s, so resolving well before proves it closed the socket.
      const closed = await Promise.race([
        api.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000)),
      ]);

      expect(closed).toBe('closed');
      await socketClosed;
      await expect(fetch(api.url)).rejects.toThrow();
      agent.destroy();
    });

    it('lets a request in flight get its answer, then resolves without waiting for keep-alive to lapse', async () => {
      // The handler answers only once close() has begun, so the request is in flight throughout.
      let arrived!: () => void;
      let closeBegun!: () => void;
      const inHandler = new Promise<void>((resolve) => (arrived = resolve));
      const closing = new Promise<void>((resolve) => (closeBegun = resolve));
      const api = await serveHttpApi(
        async () => {
          arrived();
          await closing;
          return { body: 'done' };
        },
        { port: 0 },
      );
      const answer = fetch(api.url).then(async (response) => [response.status, await response.text()]);
      await inHandler;

      const startedAt = Date.now();
      const closed = api.close();
      closeBegun();
      await closed;

      expect(await answer).toEqual([200, 'done']);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    });

    it('does not wait past timeoutMs for a client that stalls mid-body', async () => {
      const api = await serveHttpApi(echo, { port: 0, timeoutMs: 200 });
      const socket = connect(api.port, '127.0.0.1');
      socket.on('error', () => undefined);
      // "100 Continue" comes once the server has read the head: from then on the request is in flight.
      const continued = new Promise((resolve) => socket.once('data', resolve));
      socket.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
      expect(String(await continued)).toMatch(/^HTTP\/1\.1 100 Continue/);
      socket.write('only part');

      const startedAt = Date.now();
      await api.close();

      expect(Date.now() - startedAt).toBeLessThan(2_000);
      socket.destroy();
    });
  });
});
