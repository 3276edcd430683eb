import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway, type GatewayOptions } from '../../shared/adapters/local/gateway.js';
import { GatewayRouting, type GatewayRoutingOptions } from '../../shared/adapters/local/gateway-routing.js';
import { ProcessCompute } from '../../shared/adapters/local/process-compute.js';
import type { ObservedTask } from '../../shared/ports/compute.js';
import { get, keptAliveClient, processGone, recordEvents, startTestServer, waitFor, type TestServer } from '../support/local.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

const WINDOW = { start: new Date(0), end: new Date() };

// Real tenant processes (the demo app), shared by the tests that only send them traffic.
const compute = new ProcessCompute({ stopGraceMs: 1_000 });
const recorder = recordEvents(compute);
const tasks: Record<string, ObservedTask> = {};

async function runDemo(tenantId: string): Promise<ObservedTask> {
  const result = await compute.runTask({
    tenantId,
    host: `${tenantId}.localhost`,
    clientToken: `${tenantId}-1`,
    capacityProvider: 'FARGATE_SPOT',
    ...TRIAL_LAUNCH,
  });
  if (!result.started) throw new Error(`${tenantId} did not start: ${result.reason}`);
  return (await recorder.until(result.task.arn, (task) => task.lastStatus === 'RUNNING')).task;
}

beforeAll(async () => {
  const [acme, globex] = await Promise.all([runDemo('acme'), runDemo('globex')]);
  tasks.acme = acme;
  tasks.globex = globex;
});

afterAll(async () => {
  await compute.stopAll();
});

// Per test: its own routing (health checks) and gateway, always closed.
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  gateway: Gateway;
  routing: GatewayRouting;
  /** Hosts the fallback was called for. */
  fallbackHosts: string[];
  /** What the gateway logged as warnings. */
  warnings: string[];
  /** `<tenant>.localhost:<gateway port>`, the Host header a browser would send. */
  hostOf(tenantId: string): string;
  /** Target group, target and host rule: what the reconciler does for a running tenant. */
  serve(tenantId: string, ip: string): Promise<string>;
  read(...tenantIds: string[]): Promise<Map<string, { requests: number; connections: number }>>;
}

type Limits = Pick<GatewayOptions, 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxConnections' | 'upstreamIdleMs' | 'proxyTimeoutMs'>;

async function setup(
  routingOptions: GatewayRoutingOptions = {},
  fallback?: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  limits: Limits = {},
): Promise<Setup> {
  const routing = new GatewayRouting({ healthCheckIntervalMs: 100, healthCheckTimeoutMs: 200, ...routingOptions });
  cleanups.push(() => routing.close());
  const fallbackHosts: string[] = [];
  const warnings: string[] = [];
  const gateway = await startGateway({
    ...limits,
    port: 0,
    routing,
    rootDomain: 'localhost',
    logger: { warn: (message: string) => warnings.push(message), error: () => {} },
    fallback:
      fallback ??
      (async (req, res) => {
        fallbackHosts.push(req.headers.host ?? '');
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('wake');
      }),
  });
  cleanups.push(() => gateway.close());
  return {
    gateway,
    routing,
    fallbackHosts,
    warnings,
    hostOf: (tenantId) => `${tenantId}.localhost:${gateway.port}`,
    async serve(tenantId, ip) {
      const arn = await routing.ensureTargetGroup(tenantId);
      await routing.registerTarget(arn, ip);
      await routing.createRule(tenantId, `${tenantId}.localhost`, arn);
      await waitFor(`${tenantId} to be healthy`, async () =>
        (await routing.targets(arn)).some((t) => t.ip === ip && t.health === 'healthy'),
      );
      return arn;
    },
    read: (...tenantIds) =>
      gateway.activity().activity(
        tenantIds.map((tenantId) => ({ tenantId, targetGroupArn: `local:targetgroup/dm-local-${tenantId}` })),
        WINDOW,
      ),
  };
}

const gw = (setup: Setup) => `127.0.0.1:${setup.gateway.port}`;

/** Waits until no connection of the tenant counts any more, and returns its activity then. */
const untilNoConnections = (setup: Setup, tenantId: string, what: string) =>
  waitFor(what, async () => {
    const level = (await setup.read(tenantId)).get(tenantId);
    return level?.connections === 0 ? level : undefined;
  });

describe('gateway', () => {
  it("routes <slug>.localhost to the tenant's process, with the original Host and x-forwarded headers", async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);

    const whoami = await get(gw(s), '/whoami', { host: s.hostOf('acme') });
    const headers = await get(gw(s), '/headers', { host: `ACME.localhost:${s.gateway.port}` });

    expect(whoami.status).toBe(200);
    expect(JSON.parse(whoami.body)).toMatchObject({ tenant: 'acme', host: 'acme.localhost' });
    expect(JSON.parse(headers.body)).toMatchObject({
      host: `ACME.localhost:${s.gateway.port}`,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-port': String(s.gateway.port),
      'x-forwarded-proto': 'http',
      'x-forwarded-host': `ACME.localhost:${s.gateway.port}`,
    });
    expect(s.fallbackHosts).toEqual([]);
  });

  it('routes a host by its rule on whichever shard holds it, and acting as another shard sends it to the fallback, as an old DNS answer would', async () => {
    // Prepare: acme's rule is on shard 1; a second gateway acts as shard 0 only, a third as shard 1.
    const s = await setup();
    const arn = await s.routing.ensureTargetGroup('acme');
    await s.routing.registerTarget(arn, tasks.acme!.ip!);
    await s.routing.createRule('acme', 'acme.localhost', arn, 1);
    await waitFor('acme to be healthy', async () => (await s.routing.targets(arn)).some((t) => t.health === 'healthy'));
    const shardGateway = async (shard: number, hosts: string[]) => {
      const gateway = await startGateway({
        port: 0,
        routing: s.routing,
        shard,
        logger: { warn: () => {}, error: () => {} },
        fallback: async (req, res) => {
          hosts.push(req.headers.host ?? '');
          res.writeHead(503).end('wake');
        },
      });
      cleanups.push(() => gateway.close());
      return gateway;
    };
    const oldShardHosts: string[] = [];
    const oldShard = await shardGateway(0, oldShardHosts);
    const newShard = await shardGateway(1, []);

    // Act
    const everyShard = await get(gw(s), '/whoami', { host: s.hostOf('acme') });
    const viaOld = await get(`127.0.0.1:${oldShard.port}`, '/whoami', { host: `acme.localhost:${oldShard.port}` });
    const viaNew = await get(`127.0.0.1:${newShard.port}`, '/whoami', { host: `acme.localhost:${newShard.port}` });

    // Assess
    expect(everyShard.status).toBe(200);
    expect(viaNew.status).toBe(200);
    expect(viaOld.status).toBe(503);
    expect(oldShardHosts).toEqual([`acme.localhost:${oldShard.port}`]);
  });

  it("never lets two tenants see each other's traffic, and counts each tenant's requests apart", async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);
    await s.serve('globex', tasks.globex!.ip!);

    const tenants = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'globex' : 'acme'));
    const answers = await Promise.all(tenants.map((tenant) => get(gw(s), '/whoami', { host: s.hostOf(tenant) })));

    answers.forEach((answer, i) => expect(JSON.parse(answer.body).tenant).toBe(tenants[i]));
    const activity = await s.read('acme', 'globex');
    expect(activity.get('acme')?.requests).toBe(20);
    expect(activity.get('globex')?.requests).toBe(10);
  });

  it('sends every host without a rule, outside the root domain, or without a healthy target to the fallback', async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);
    // A rule whose group has no healthy target: the tenant is still starting.
    const starting = await s.routing.ensureTargetGroup('initech');
    await s.routing.createRule('initech', 'initech.localhost', starting);

    const hosts = [
      s.hostOf('nobody'),
      s.hostOf('initech'),
      `localhost:${s.gateway.port}`,
      'acme.example.com',
      `deep.acme.localhost:${s.gateway.port}`,
    ];
    const answers = await Promise.all(hosts.map((host) => get(gw(s), '/whoami', { host })));

    for (const answer of answers) expect([answer.status, answer.body]).toEqual([503, 'wake']);
    expect(s.fallbackHosts.sort()).toEqual([...hosts].sort());
    expect((await s.read('nobody', 'initech')).get('initech')).toEqual({ requests: 0, connections: 0 });
  });

  it('answers 500 when the fallback fails, and keeps serving', async () => {
    const s = await setup({}, async () => {
      throw new Error('the store is down');
    });
    await s.serve('acme', tasks.acme!.ip!);

    const failed = await get(gw(s), '/', { host: s.hostOf('nobody') });
    const served = await get(gw(s), '/whoami', { host: s.hostOf('acme') });

    expect(failed.status).toBe(500);
    expect(served.status).toBe(200);
  });

  it("answers 502, without crashing, when the tenant's process is gone before its health check notices", async () => {
    // Prepare: a process of its own, and checks too rare to notice it die during the test.
    const s = await setup({ healthCheckIntervalMs: 60_000 });
    const doomed = await runDemo('doomed');
    await s.serve('doomed', doomed.ip!);
    await s.serve('acme', tasks.acme!.ip!);
    expect((await get(gw(s), '/whoami', { host: s.hostOf('doomed') })).status).toBe(200);

    // Act
    const pid = compute.pidOf(doomed.arn)!;
    process.kill(pid, 'SIGKILL');
    await recorder.until(doomed.arn, (task) => task.lastStatus === 'STOPPED');
    const answer = await get(gw(s), '/whoami', { host: s.hostOf('doomed') });

    // Assess
    expect(processGone(pid)).toBe(true);
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/^Bad Gateway: the application of doomed did not answer \(ECONNREFUSED\)/);
    expect((await get(gw(s), '/whoami', { host: s.hostOf('acme') })).status).toBe(200);
  });

  it('reuses its connection to a tenant for the next requests, and closes it once idle for longer than upstreamIdleMs', async () => {
    // Prepare: a tenant that tells apart the connections visitors' requests arrive on.
    const visitorSockets = new Set<Socket>();
    const closed: Socket[] = [];
    const tenant = await startTestServer((req, res) => {
      if (!req.headers['user-agent']?.startsWith('ELB-HealthChecker') && !visitorSockets.has(req.socket)) {
        visitorSockets.add(req.socket);
        req.socket.once('close', () => closed.push(req.socket));
      }
      res.end('ok');
    });
    cleanups.push(() => tenant.close());
    const s = await setup({}, undefined, { upstreamIdleMs: 300 });
    await s.serve('acme', tenant.ip);

    // Act: requests one after the other, each on a fresh connection to the gateway.
    for (let i = 0; i < 5; i++) expect((await get(gw(s), '/', { host: s.hostOf('acme') })).status).toBe(200);

    // Assess: one connection carried them all, and the gateway drops it once idle.
    expect(visitorSockets.size).toBe(1);
    await waitFor('the idle connection to close', () => closed.length === 1);
    expect((await get(gw(s), '/', { host: s.hostOf('acme') })).status).toBe(200);
    expect(visitorSockets.size).toBe(2);
  });

  it('waits for a tenant that answers later than upstreamIdleMs, on a new connection and on a reused one', async () => {
    const tenant = await startTestServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('late'), 800);
      else res.end('ok');
    });
    cleanups.push(() => tenant.close());
    const s = await setup({}, undefined, { upstreamIdleMs: 200 });
    await s.serve('acme', tenant.ip);

    const first = await get(gw(s), '/slow', { host: s.hostOf('acme') });
    const reused = await get(gw(s), '/slow', { host: s.hostOf('acme') });

    expect([first.status, first.body]).toEqual([200, 'late']);
    expect([reused.status, reused.body]).toEqual([200, 'late']);
  });

  it('stops routing to a target that stops answering its health check, and routes to it again once it recovers', async () => {
    const state = { answering: true };
    const app = await startTestServer((req, res) => {
      if (req.url === '/' && !state.answering) return; // Hangs: the health check (GET /) times out.
      res.end(`flaky ${req.url}`);
    });
    cleanups.push(() => app.close());
    const s = await setup();
    const arn = await s.serve('flaky', app.ip);
    expect((await get(gw(s), '/x', { host: s.hostOf('flaky') })).body).toBe('flaky /x');

    state.answering = false;
    await waitFor('the target to be unhealthy', async () => (await s.routing.targets(arn))[0]?.health === 'unhealthy');
    const whileDown = await get(gw(s), '/x', { host: s.hostOf('flaky') });
    state.answering = true;
    await waitFor('the target to be healthy', async () => (await s.routing.targets(arn))[0]?.health === 'healthy');
    const afterwards = await get(gw(s), '/x', { host: s.hostOf('flaky') });

    expect([whileDown.status, whileDown.body]).toEqual([503, 'wake']);
    expect(afterwards.body).toBe('flaky /x');
  });

  it('counts a held request as an open connection until it closes, and resets requests on each read', async () => {
    // Prepare: an application that holds /hold until the test lets go.
    const held: ServerResponse[] = [];
    const app = await startTestServer((req, res) => {
      if (req.url === '/hold') held.push(res);
      else res.end('ok');
    });
    cleanups.push(() => app.close());
    const s = await setup();
    await s.serve('slow', app.ip);
    expect(await s.read('slow')).toEqual(new Map([['slow', { requests: 0, connections: 0 }]]));

    // Act: one request held open, one answered.
    let client: import('node:http').ClientRequest | undefined;
    const holding = get(gw(s), '/hold', { host: s.hostOf('slow'), onRequest: (req) => (client = req) }).catch((error: Error) => error);
    await waitFor('the application to hold the request', () => held.length === 1);
    expect((await get(gw(s), '/quick', { host: s.hostOf('slow') })).body).toBe('ok');
    const during = await s.read('slow');
    const again = await s.read('slow');
    client!.destroy();
    await holding;
    const after = await untilNoConnections(s, 'slow', 'the held connection to close');

    // Assess
    expect(during.get('slow')).toEqual({ requests: 2, connections: 1 });
    expect(again.get('slow')).toEqual({ requests: 0, connections: 1 });
    expect(after).toEqual({ requests: 0, connections: 0 });
  });

  it('counts connections on a slow endpoint of the demo app the same way', async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);

    const slow = get(gw(s), '/slow?ms=600', { host: s.hostOf('acme') });
    const during = await waitFor('the slow request to be counted', async () => {
      const level = (await s.read('acme')).get('acme');
      return level && level.connections === 1 ? level : undefined;
    });
    const answer = await slow;
    const after = await waitFor('the connection to close', async () => {
      const level = (await s.read('acme')).get('acme');
      return level?.connections === 0 ? level : undefined;
    });

    expect(during).toEqual({ requests: 1, connections: 1 });
    expect(answer.body).toBe('answered after 600 ms\n');
    expect(after).toEqual({ requests: 0, connections: 0 });
  });
});

/** A raw TCP connection to the gateway: what it receives, and when the gateway closed it. */
async function rawConnection(s: Setup) {
  const socket = connect(s.gateway.port, '127.0.0.1');
  cleanups.push(() => void socket.destroy());
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed, received: () => received };
}

/** Sends `text` as is on a raw connection and resolves with everything answered until the gateway closes it. */
async function exchange(s: Setup, text: string): Promise<string> {
  const raw = await rawConnection(s);
  raw.socket.write(text);
  await raw.closed;
  return raw.received();
}

describe('gateway forwarding', () => {
  /** A tenant that answers every request with what it received: method, URL, headers and body. */
  async function mirror() {
    const received: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
    const app = await startTestServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        if (!req.headers['user-agent']?.startsWith('ELB-HealthChecker'))
          received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.end(JSON.stringify({ method: req.method, length: body.length }));
      });
    });
    cleanups.push(() => app.close());
    return { app, received };
  }

  it('passes a request body on whole, sized or chunked, and after answering `Expect: 100-continue` itself', async () => {
    const { app, received } = await mirror();
    const s = await setup();
    await s.serve('acme', app.ip);
    const body = 'x'.repeat(3_000);
    const host = `Host: ${s.hostOf('acme')}\r\nConnection: close\r\n`;

    const sized = await exchange(s, `POST /sized?a=1 HTTP/1.1\r\n${host}Content-Length: ${body.length}\r\n\r\n${body}`);
    const chunked = await exchange(
      s,
      `PUT /chunked HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    );
    // As curl sends a body over 1 KB: the gateway answers 100 Continue, and the tenant never sees the header.
    const expecting = await exchange(
      s,
      `POST /expect HTTP/1.1\r\n${host}Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n${body}`,
    );

    expect(sized).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(sized).toMatch(/\r\n\r\n\{"method":"POST","length":3000\}$/);
    expect(chunked).toMatch(/\{"method":"PUT","length":11\}$/);
    expect(expecting).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(received.map(({ method, url, body: got }) => [method, url, got])).toEqual([
      ['POST', '/sized?a=1', body],
      ['PUT', '/chunked', 'hello world'],
      ['POST', '/expect', body],
    ]);
    expect(received[2]!.headers.expect).toBeUndefined();
  });

  it("keeps the visitor's own headers, appends to x-forwarded-* and passes on no hop-by-hop header", async () => {
    const { app, received } = await mirror();
    const s = await setup();
    await s.serve('acme', app.ip);

    await exchange(
      s,
      `GET /h HTTP/1.1\r\nHost: ${s.hostOf('acme')}\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n` +
        'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\nX-Forwarded-Prefix: /app\r\n' +
        'Cookie: a=1\r\nAuthorization: Bearer t\r\n\r\n',
    );

    const headers = received[0]!.headers;
    expect(headers).toMatchObject({
      host: s.hostOf('acme'),
      cookie: 'a=1',
      authorization: 'Bearer t',
      'x-forwarded-for': '203.0.113.9,127.0.0.1',
      'x-forwarded-proto': 'https,http',
      'x-forwarded-port': String(s.gateway.port),
      'x-forwarded-host': 'shop.example',
      'x-forwarded-prefix': '/app',
    });
    for (const name of ['te', 'proxy-connection', 'expect', 'upgrade', 'x-hop']) expect(headers[name]).toBeUndefined();
    // The gateway keeps its connection to the tenant whatever the visitor asked of its own.
    expect(headers.connection).not.toBe('close');
  });

  it("streams the tenant's answer as it comes, with every Set-Cookie, and without the tenant's hop-by-hop headers", async () => {
    let finish = () => {};
    const app = await startTestServer((_req, res) => {
      res.writeHead(201, {
        'set-cookie': ['a=1', 'b=2'],
        'x-app': 'yes',
        'x-hop': 'internal',
        'keep-alive': 'timeout=1',
        connection: 'close, X-Hop',
      });
      res.write('first,');
      finish = () => res.end('last');
    });
    cleanups.push(() => app.close());
    const s = await setup();
    await s.serve('acme', app.ip);

    let firstPart: (text: string) => void = () => {};
    const firstArrived = new Promise<string>((resolve) => (firstPart = resolve));
    const answer = new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>((resolve, reject) => {
      const req = httpRequest(`http://${gw(s)}/stream`, { agent: false, setHost: false, headers: { host: s.hostOf('acme') } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          firstPart(body);
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    // The first part reaches the visitor while the tenant is still writing.
    expect(await firstArrived).toBe('first,');
    finish();
    const { status, headers, body } = await answer;

    expect([status, body]).toEqual([201, 'first,last']);
    expect(headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(headers['x-app']).toBe('yes');
    // The visitor's connection is the gateway's (this visitor asked to close it): the tenant's hints about its own are not passed on.
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['x-hop']).toBeUndefined();
  });

  it('routes an absolute-form request by its Host and gives the tenant only its path, and refuses `OPTIONS *`', async () => {
    const { app, received } = await mirror();
    const s = await setup();
    await s.serve('acme', app.ip);

    const absolute = await exchange(s, `GET http://other.example/x?y=1 HTTP/1.1\r\nHost: ${s.hostOf('acme')}\r\nConnection: close\r\n\r\n`);
    const asterisk = await exchange(s, `OPTIONS * HTTP/1.1\r\nHost: ${s.hostOf('acme')}\r\nConnection: close\r\n\r\n`);

    expect(absolute).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(received.map(({ url, headers }) => [url, headers.host])).toEqual([['/x?y=1', s.hostOf('acme')]]);
    expect(asterisk).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*the request target must be a path\.\n$/);
    expect(s.warnings).toEqual([]);
  });

  it('answers 504 when the tenant sends no answer within proxyTimeoutMs, and 502 when it breaks off mid-answer', async () => {
    const app = await startTestServer((req, res) => {
      if (req.url === '/silent') return; // Never answers.
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.destroy(), 50);
    });
    cleanups.push(() => app.close());
    const s = await setup({}, undefined, { proxyTimeoutMs: 500 });
    await s.serve('acme', app.ip);

    const silent = await get(gw(s), '/silent', { host: s.hostOf('acme') });
    const broken = await get(gw(s), '/broken', { host: s.hostOf('acme') }).catch((error: Error) => error);
    const afterwards = await untilNoConnections(s, 'acme', 'both requests to end');

    expect(silent.status).toBe(504);
    expect(silent.body).toBe('Gateway Timeout: the application of acme did not answer within 0.5 s.\n');
    // Headers were already sent: the visitor's connection is cut, as an ALB cuts it.
    expect(broken).toBeInstanceOf(Error);
    expect(afterwards.connections).toBe(0);
    // Both are the tenant's failures, and logged as such.
    expect(s.warnings).toHaveLength(2);
    expect(s.warnings.every((warning) => warning.startsWith(`[gateway] acme at ${app.ip}: `))).toBe(true);
  });

  it("aborts the tenant's request when the visitor goes away", async () => {
    const closed: string[] = [];
    const app = await startTestServer((req, res) => {
      res.once('close', () => closed.push(`${req.url} ${res.writableFinished ? 'answered' : 'aborted'}`));
      if (req.url !== '/hang') res.end('ok');
    });
    cleanups.push(() => app.close());
    const s = await setup();
    await s.serve('acme', app.ip);

    let client: import('node:http').ClientRequest | undefined;
    const leaving = get(gw(s), '/hang', { host: s.hostOf('acme'), onRequest: (req) => (client = req) }).catch((error: Error) => error);
    await waitFor('the tenant to get the request', async () => (await s.read('acme')).get('acme')?.connections === 1);
    client!.destroy();
    await leaving;

    await waitFor("the tenant's request to be aborted", () => closed.includes('/hang aborted'));
    expect((await get(gw(s), '/next', { host: s.hostOf('acme') })).body).toBe('ok');
    // The visitor left: nothing went wrong with the tenant.
    expect(s.warnings).toEqual([]);
  });
});

describe('gateway keep-alive', () => {
  /** A browser-like visitor of the gateway, closed after the test. */
  function visitor(s: Setup) {
    const client = keptAliveClient(gw(s));
    cleanups.push(() => client.close());
    return client;
  }

  it("keeps a visitor's connection open across requests, routing each by its own Host", async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);
    await s.serve('globex', tasks.globex!.ip!);
    const browser = visitor(s);

    const answers = [
      await browser.get('/whoami', { host: s.hostOf('acme') }),
      await browser.get('/whoami', { host: s.hostOf('globex') }),
      await browser.get('/', { host: s.hostOf('nobody') }),
      await browser.get('/whoami', { host: s.hostOf('acme') }),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 503, 200]);
    expect([answers[0], answers[1], answers[3]].map((answer) => JSON.parse(answer!.body).tenant)).toEqual(['acme', 'globex', 'acme']);
    expect(answers.map((answer) => answer.headers.connection)).toEqual(Array(4).fill('keep-alive'));
    expect(new Set(answers.map((answer) => answer.socket)).size).toBe(1);
  });

  it("keeps the visitor's connection when the tenant closes its own, and closes it when the visitor asks to", async () => {
    // Connection is hop-by-hop: what one side says about its connection says nothing of the other.
    const tenant = await startTestServer((_req, res) => {
      res.setHeader('connection', 'close');
      res.end('ok');
    });
    cleanups.push(() => tenant.close());
    const s = await setup();
    await s.serve('acme', tenant.ip);
    const browser = visitor(s);

    const first = await browser.get('/', { host: s.hostOf('acme') });
    const second = await browser.get('/', { host: s.hostOf('acme'), headers: { connection: 'close' } });
    await new Promise((resolve) => (second.socket.destroyed ? resolve(undefined) : second.socket.once('close', resolve)));

    expect([first.status, first.headers.connection]).toEqual([200, 'keep-alive']);
    expect([second.status, second.headers.connection]).toEqual([200, 'close']);
    expect(second.socket).toBe(first.socket);
  });

  it('sends the next request on a kept-alive connection to the fallback once its tenant is put to sleep', async () => {
    const tenant = await startTestServer((_req, res) => res.end('awake'));
    cleanups.push(() => tenant.close());
    const s = await setup();
    const arn = await s.serve('acme', tenant.ip);
    const browser = visitor(s);
    const awake = await browser.get('/', { host: s.hostOf('acme') });

    // Act: what passivation does to the routing, while the visitor's connection stays open.
    const rule = await s.routing.findRule('acme', 'acme.localhost');
    await s.routing.deleteRule(rule!.arn);
    await s.routing.deregisterTarget(arn, tenant.ip);
    await tenant.close();
    const asleep = await browser.get('/', { host: s.hostOf('acme') });

    // Assess
    expect([awake.status, awake.body]).toEqual([200, 'awake']);
    expect([asleep.status, asleep.body]).toEqual([503, 'wake']);
    expect(asleep.socket).toBe(awake.socket);
    expect(s.fallbackHosts).toEqual([s.hostOf('acme')]);
  });

  it('counts a request under way as a connection, and an idle kept-alive connection as none', async () => {
    // Prepare: an application that holds /hold until the test lets go.
    const held: ServerResponse[] = [];
    const app = await startTestServer((req, res) => (req.url === '/hold' ? held.push(res) : res.end('ok')));
    cleanups.push(() => app.close());
    const s = await setup();
    await s.serve('slow', app.ip);
    const idle = visitor(s);
    const waiting = visitor(s);

    // Act: one visitor is answered and keeps its connection; another waits for an answer.
    const answered = await idle.get('/quick', { host: s.hostOf('slow') });
    const afterAnswer = await s.read('slow');
    const holding = waiting.get('/hold', { host: s.hostOf('slow') });
    await waitFor('the application to hold the request', () => held.length === 1);
    const whileHeld = await s.read('slow');
    held[0]!.end('late');
    const late = await holding;
    const afterHeld = await untilNoConnections(s, 'slow', 'the held request to end');

    // Assess: both connections are still open, and neither counts once its answer is over.
    expect(afterAnswer.get('slow')).toEqual({ requests: 1, connections: 0 });
    expect(whileHeld.get('slow')).toEqual({ requests: 1, connections: 1 });
    expect(afterHeld).toEqual({ requests: 0, connections: 0 });
    expect([answered.socket.destroyed, late.socket.destroyed]).toEqual([false, false]);
    expect((await idle.get('/quick', { host: s.hostOf('slow') })).socket).toBe(answered.socket);
  });
});

describe('gateway limits', () => {
  it('answers 400 to a request with two Host headers, and routes it to neither tenant', async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);
    await s.serve('globex', tasks.globex!.ip!);
    const raw = await rawConnection(s);

    raw.socket.write(`GET /whoami HTTP/1.1\r\nHost: ${s.hostOf('acme')}\r\nHost: ${s.hostOf('globex')}\r\n\r\n`);
    await raw.closed;

    expect(raw.received()).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw.received()).not.toContain('"tenant"');
    expect(s.fallbackHosts).toEqual([]);
    const activity = await s.read('acme', 'globex');
    expect(activity.get('acme')?.requests ?? 0).toBe(0);
    expect(activity.get('globex')?.requests ?? 0).toBe(0);
  });

  it('answers 400 to a WebSocket upgrade with two Host headers', async () => {
    const s = await setup();
    await s.serve('acme', tasks.acme!.ip!);
    const raw = await rawConnection(s);

    raw.socket.write(
      `GET /socket HTTP/1.1\r\nHost: ${s.hostOf('acme')}\r\nHost: ${s.hostOf('nobody')}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await raw.closed;

    expect(raw.received()).toMatch(/^HTTP\/1\.1 400 /);
    expect(s.fallbackHosts).toEqual([]);
  });

  it('drops a client that has not sent its headers within the headers timeout', async () => {
    const s = await setup({}, undefined, { headersTimeoutMs: 1_000 });
    const raw = await rawConnection(s);
    const startedAt = Date.now();

    // A slow header sender: a line now and then, never the blank line that ends the headers.
    raw.socket.write(`GET / HTTP/1.1\r\nHost: ${s.hostOf('nobody')}\r\n`);
    const drip = setInterval(() => raw.socket.write('X-Slow: 1\r\n'), 200);
    const closedAt = await raw.closed;
    clearInterval(drip);

    expect(closedAt - startedAt).toBeLessThan(3_000);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(s.fallbackHosts).toEqual([]);
  });

  it('drops a slow header sender after 10 s by default', async () => {
    const s = await setup();
    const raw = await rawConnection(s);
    const startedAt = Date.now();

    raw.socket.write(`GET / HTTP/1.1\r\nHost: ${s.hostOf('nobody')}\r\n`);
    const closedAt = await raw.closed;

    expect(closedAt - startedAt).toBeGreaterThanOrEqual(9_000);
    expect(closedAt - startedAt).toBeLessThan(13_000);
  }, 20_000);

  it('closes connections beyond the maximum at once, and accepts new ones when others close', async () => {
    const s = await setup({}, undefined, { maxConnections: 3 });
    const open = await Promise.all([1, 2, 3].map(() => rawConnection(s)));
    // Each of them served a request, so the gateway has surely accepted all three.
    for (const raw of open) raw.socket.write(`GET / HTTP/1.1\r\nHost: ${s.hostOf('nobody')}\r\n\r\n`);
    await waitFor('three answers', () => open.every((raw) => raw.received().includes('wake')));

    const extra = await rawConnection(s);
    extra.socket.write(`GET / HTTP/1.1\r\nHost: ${s.hostOf('nobody')}\r\n\r\n`);
    await extra.closed;
    open[0]!.socket.destroy();
    await open[0]!.closed;
    const later = await waitFor('a connection to be accepted again', async () => {
      try {
        return (await get(gw(s), '/', { host: s.hostOf('nobody') })).status;
      } catch {
        return undefined;
      }
    });

    expect(extra.received()).toBe('');
    expect(later).toBe(503);
  });
});

describe('gateway WebSockets', () => {
  /** A tenant application that accepts WebSocket upgrades and echoes the bytes it gets. */
  async function echoApp() {
    const upgrades: IncomingMessage[] = [];
    const sockets = new Set<Socket>();
    const app: TestServer = await startTestServer((_req, res) => res.end('ok'));
    app.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      upgrades.push(req);
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => sockets.delete(socket));
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.on('data', (data) => socket.write(data));
      // HTTP server sockets allow half-open connections: close our side when the client does,
      // as a WebSocket server does after the closing handshake.
      socket.on('end', () => socket.end());
    });
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await app.close();
    });
    return { app, upgrades, sockets };
  }

  type Upgraded =
    { kind: 'upgrade'; res: IncomingMessage; socket: Socket; key: string } | { kind: 'response'; status: number; body: string };

  function upgrade(address: string, host: string): Promise<Upgraded> {
    const key = randomBytes(16).toString('base64');
    return new Promise((resolve, reject) => {
      const req = httpRequest(`http://${address}/socket`, {
        agent: false,
        setHost: false,
        headers: { host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
      });
      req.once('upgrade', (res, socket) => resolve({ kind: 'upgrade', res, socket, key }));
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.end();
    });
  }

  function echo(socket: Socket, text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let received = '';
      const onData = (data: Buffer) => {
        received += data.toString();
        if (received.length >= text.length) {
          socket.off('data', onData);
          resolve(received);
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.write(text);
    });
  }

  it('tunnels a WebSocket upgrade to the tenant and counts it as an open connection until it closes', async () => {
    const { app, upgrades } = await echoApp();
    const s = await setup();
    await s.serve('chat', app.ip);

    const upgraded = await upgrade(gw(s), s.hostOf('chat'));
    if (upgraded.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${upgraded.status} ${upgraded.body}`);
    const echoed = await echo(upgraded.socket, 'ping over the tunnel');
    const during = await s.read('chat');
    const closed = new Promise((resolve) => upgraded.socket.once('close', resolve));
    upgraded.socket.end();
    await closed;
    const after = await waitFor('the tunnel to close', async () => {
      const level = (await s.read('chat')).get('chat');
      return level?.connections === 0 ? level : undefined;
    });

    expect(upgraded.res.statusCode).toBe(101);
    expect(upgraded.res.headers['sec-websocket-accept']).toBe(
      createHash('sha1').update(`${upgraded.key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'),
    );
    expect(echoed).toBe('ping over the tunnel');
    expect(upgrades[0]?.headers).toMatchObject({ host: s.hostOf('chat'), 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'ws' });
    expect(during.get('chat')).toEqual({ requests: 1, connections: 1 });
    expect(after).toEqual({ requests: 0, connections: 0 });
  });

  it('answers 502 to an upgrade whose tenant is gone before its health check notices', async () => {
    const { app } = await echoApp();
    const s = await setup({ healthCheckIntervalMs: 60_000 });
    await s.serve('chat', app.ip);
    await app.close();

    const answer = await upgrade(gw(s), s.hostOf('chat'));

    expect(answer).toMatchObject({ kind: 'response', status: 502 });
    expect((await get(gw(s), '/', { host: s.hostOf('nobody') })).status).toBe(503);
  });

  it('answers an upgrade for a host without a route through the fallback, without upgrading', async () => {
    const s = await setup();

    const answer = await upgrade(gw(s), s.hostOf('sleepy'));

    expect(answer).toEqual({ kind: 'response', status: 503, body: 'wake' });
    expect(s.fallbackHosts).toEqual([s.hostOf('sleepy')]);
  });

  it('closes open WebSockets, held requests and idle kept-alive connections when it closes', async () => {
    const { app } = await echoApp();
    const held: ServerResponse[] = [];
    const slowApp = await startTestServer((req, res) => (req.url === '/hold' ? held.push(res) : res.end('ok')));
    cleanups.push(() => slowApp.close());
    const s = await setup();
    await s.serve('chat', app.ip);
    await s.serve('slow', slowApp.ip);
    const upgraded = await upgrade(gw(s), s.hostOf('chat'));
    if (upgraded.kind !== 'upgrade') throw new Error('expected an upgrade');
    const tunnelClosed = new Promise((resolve) => upgraded.socket.once('close', resolve));
    const holding = get(gw(s), '/hold', { host: s.hostOf('slow') }).catch((error: Error) => error);
    await waitFor('the request to be held', () => held.length === 1);
    const browser = keptAliveClient(gw(s));
    cleanups.push(() => browser.close());
    const { socket: idle } = await browser.get('/quick', { host: s.hostOf('slow') });
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));

    await s.gateway.close();

    await tunnelClosed;
    await idleClosed;
    expect(await holding).toBeInstanceOf(Error);
  });
});
