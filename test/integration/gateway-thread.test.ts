import { connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ALBResult } from 'aws-lambda';
import type { FallbackRequest } from '../../shared/adapters/local/alb-fallback.js';
import { GatewayRouting, type HostRoute } from '../../shared/adapters/local/gateway-routing.js';
import { startGatewayThread, type GatewaySettings } from '../../shared/adapters/local/gateway-thread.js';
import { naming, StartError } from '../../shared/adapters/local/start-error.js';
import { get, startTestServer, waitFor } from '../support/local.js';

const WINDOW = { start: new Date(0), end: new Date() };
const ACME = { tenantId: 'acme', targetGroupArn: 'tg-acme' };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A tenant app answering its own name; `/slow` answers once `release` is called. */
async function tenant(name: string) {
  let release = () => {};
  const app = await startTestServer((req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started ');
      release = () => res.end('done');
      return;
    }
    res.end(`${name} ${req.url}`);
  });
  cleanups.push(() => app.close());
  return { ip: app.ip, release: () => release() };
}

async function setup({
  gateways = [{ port: 0 }] as GatewaySettings[],
  fallback = async (): Promise<ALBResult> => ({ statusCode: 503, body: 'asleep' }),
} = {}) {
  const routing = new GatewayRouting({ healthCheckIntervalMs: 100, healthCheckTimeoutMs: 200 });
  cleanups.push(() => routing.close());
  const errors: string[] = [];
  const fallbackCalls: FallbackRequest[] = [];
  const thread = await startGatewayThread({
    gateways,
    routing,
    fallback: (request) => {
      fallbackCalls.push(request);
      return fallback();
    },
    logger: { warn: () => {}, error: (...args: unknown[]) => errors.push(args.map(String).join(' ')) },
  });
  cleanups.push(() => thread.close());
  const addressOf = (index: number) => new URL(thread.gateways[index]!.url).host;
  /** Target group, healthy target and host rule, as the reconciler makes them. */
  const serve = async (tenantId: string, ip: string, shard = 0) => {
    const arn = await routing.ensureTargetGroup(tenantId);
    await routing.registerTarget(arn, ip);
    await waitFor('a healthy target', async () => (await routing.targets(arn)).some((target) => target.health === 'healthy'));
    return { arn, rule: await routing.createRule(tenantId, `${tenantId}.localhost`, arn, shard) };
  };
  return { routing, thread, errors, fallbackCalls, address: addressOf(0), addressOf, serve };
}

describe('the gateways on a thread of their own', () => {
  it('routes by the rules the routing had when the thread started, and by every change after', async () => {
    const acme = await tenant('acme');
    const globex = await tenant('globex');
    const routing = new GatewayRouting({ healthCheckIntervalMs: 100, healthCheckTimeoutMs: 200 });
    cleanups.push(() => routing.close());
    const acmeArn = await routing.ensureTargetGroup('acme');
    await routing.registerTarget(acmeArn, acme.ip);
    await waitFor('acme healthy', async () => (await routing.targets(acmeArn)).some((target) => target.health === 'healthy'));
    await routing.createRule('acme', 'acme.localhost', acmeArn);
    const thread = await startGatewayThread({
      gateways: [{ port: 0 }],
      routing,
      fallback: async () => ({ statusCode: 503, body: 'asleep' }),
    });
    cleanups.push(() => thread.close());
    const address = new URL(thread.gateways[0]!.url).host;

    // Known before the thread started.
    expect((await get(address, '/a', { host: 'acme.localhost' })).body).toBe('acme /a');
    // Made after: a new tenant's rule and healthy target.
    const globexArn = await routing.ensureTargetGroup('globex');
    await routing.createRule('globex', 'Globex.LocalHost', globexArn);
    expect((await get(address, '/', { host: 'globex.localhost' })).status).toBe(503);
    await routing.registerTarget(globexArn, globex.ip);
    await waitFor('globex served', async () => (await get(address, '/b', { host: 'globex.localhost' })).body === 'globex /b');

    // A target leaving its group, and a rule deleted: the default action again.
    await routing.deregisterTarget(acmeArn, acme.ip);
    await waitFor('acme no longer served', async () => (await get(address, '/', { host: 'acme.localhost' })).body === 'asleep');
    const rule = await routing.findRule('globex', 'globex.localhost');
    await routing.deleteRule(rule!.arn);
    await waitFor('globex no longer served', async () => (await get(address, '/', { host: 'globex.localhost' })).body === 'asleep');
  });

  it('gives the default action what the ALB would pass on, and sends its answer back', async () => {
    const { address, fallbackCalls } = await setup({
      fallback: async () => ({
        statusCode: 307,
        statusDescription: '307 Temporary Redirect',
        headers: { location: '/again', 'retry-after': '2' },
        multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
        body: 'waking',
      }),
    });
    const answer = await get(address, '/path?x=1', { host: 'sleepy.localhost', headers: { accept: 'text/html' } });
    expect(answer).toMatchObject({
      status: 307,
      body: 'waking',
      headers: { location: '/again', 'retry-after': '2', 'set-cookie': ['a=1', 'b=2'], 'content-length': '6' },
    });
    expect(fallbackCalls).toHaveLength(1);
    expect(fallbackCalls[0]).toMatchObject({ method: 'GET', url: '/path?x=1' });
    const headers = fallbackCalls[0]!.rawHeaders;
    expect(headers[headers.findIndex((name) => name.toLowerCase() === 'host') + 1]).toBe('sleepy.localhost');
    expect(headers[headers.findIndex((name) => name.toLowerCase() === 'accept') + 1]).toBe('text/html');
  });

  it('answers 500 when the default action throws before it returns a promise, and goes on serving', async () => {
    let calls = 0;
    const routing = new GatewayRouting();
    cleanups.push(() => routing.close());
    const thread = await startGatewayThread({
      gateways: [{ port: 0 }],
      routing,
      fallback: (() => {
        calls += 1;
        throw new Error('thrown at once');
      }) as () => Promise<ALBResult>,
      logger: { warn: () => {}, error: () => {} },
    });
    cleanups.push(() => thread.close());
    const { port } = new URL(thread.gateways[0]!.url);
    // A target a URL parser would refuse (port out of range) reaches the fallback as is; this
    // fallback throws before it returns a promise.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET //x:99999 HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 500 /);
    expect(calls).toBe(1);
    expect((await get(new URL(thread.gateways[0]!.url).host, '/', { host: 'other.localhost' })).status).toBe(500);
    expect(calls).toBe(2);
  });

  it('answers 500 when Node refuses the default action’s answer (a header with a newline), and goes on serving', async () => {
    const { address, errors } = await setup({
      fallback: async () => ({ statusCode: 307, headers: { location: '/a\r\nset-cookie: x=1' }, body: 'moved' }),
    });
    const answer = await get(address, '/', { host: 'acme.localhost' });
    expect(answer.status).toBe(500);
    expect(answer.headers.location).toBeUndefined();
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(errors.join('\n')).toContain('the fallback failed');
    expect((await get(address, '/', { host: 'acme.localhost' })).status).toBe(500);
  });

  it('answers 500 when the default action fails, and logs why on the control plane’s thread', async () => {
    const { address, errors } = await setup({
      fallback: async () => {
        throw new Error('the store is unreachable');
      },
    });
    const answer = await get(address, '/', { host: 'acme.localhost' });
    expect(answer.status).toBe(500);
    expect(answer.body).not.toContain('unreachable');
    expect(errors.join('\n')).toContain('the store is unreachable');
  });

  it('counts each tenant’s requests since the previous read, for the sweep', async () => {
    const acme = await tenant('acme');
    const { address, serve, thread } = await setup();
    await serve('acme', acme.ip);
    for (let i = 0; i < 4; i++) await get(address, '/', { host: 'acme.localhost' });
    const read = () => thread.activity.activity([ACME, { tenantId: 'globex', targetGroupArn: 'tg-globex' }], WINDOW);
    expect(await read()).toEqual(
      new Map([
        ['acme', { requests: 4, connections: 0 }],
        ['globex', { requests: 0, connections: 0 }],
      ]),
    );
    expect((await read()).get('acme')).toEqual({ requests: 0, connections: 0 });
  });

  it('counts an answer still under way as an open connection until it ends', async () => {
    const acme = await tenant('acme');
    const { address, serve, thread } = await setup();
    await serve('acme', acme.ip);
    const connections = async () => (await thread.activity.activity([ACME], WINDOW)).get('acme')?.connections;
    const slow = get(address, '/slow', { host: 'acme.localhost' });
    await waitFor('an open connection', async () => (await connections()) === 1);
    acme.release();
    expect((await slow).body).toBe('started done');
    await waitFor('no open connection', async () => (await connections()) === 0);
  });

  it('runs a gateway per shard beside the main one, each routing only its own shard’s rules', async () => {
    const acme = await tenant('acme');
    const { addressOf, serve } = await setup({ gateways: [{ port: 0 }, { port: 0, shard: 0 }, { port: 0, shard: 1 }] });
    await serve('acme', acme.ip, 1);
    expect((await get(addressOf(0), '/', { host: 'acme.localhost' })).body).toBe('acme /');
    expect((await get(addressOf(1), '/', { host: 'acme.localhost' })).body).toBe('asleep');
    expect((await get(addressOf(2), '/', { host: 'acme.localhost' })).body).toBe('acme /');
  });

  it('says which port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const routing = new GatewayRouting();
    cleanups.push(() => routing.close());
    const start = naming('DORMOUSE_GATEWAY_PORT', port, () =>
      startGatewayThread({ gateways: [{ port }], routing, fallback: async () => ({ statusCode: 503 }) }),
    );
    await expect(start).rejects.toThrow(StartError);
    await expect(start).rejects.toThrow(`port ${port} is already in use`);
  });

  it('closes the connections still open, and the thread with them', async () => {
    const acme = await tenant('acme');
    const { address, serve, thread } = await setup();
    await serve('acme', acme.ip);
    const slow = get(address, '/slow', { host: 'acme.localhost' });
    await waitFor('an open connection', async () => (await thread.activity.activity([ACME], WINDOW)).get('acme')?.connections === 1);
    const cut = expect(slow).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await thread.close();
    await cut;
    await expect(get(address, '/', { host: 'acme.localhost', timeoutMs: 1_000 })).rejects.toThrow(/ECONNREFUSED/);
    await expect(thread.activity.activity([ACME], WINDOW)).rejects.toThrow(/stopped/);
    await thread.close();
  });

  it('reports a thread that stops on its own, whose gateways then refuse connections', async () => {
    /** Passes on what the routing sends the thread, and lets the test send it something it cannot read. */
    class Routing extends GatewayRouting {
      send?: (host: string, routes: HostRoute[]) => void;
      override onRoutesChange(listener: (host: string, routes: HostRoute[]) => void) {
        this.send = listener;
        return super.onRoutesChange(listener);
      }
    }
    const routing = new Routing();
    cleanups.push(() => routing.close());
    const failures: Error[] = [];
    const thread = await startGatewayThread({
      gateways: [{ port: 0 }],
      routing,
      fallback: async () => ({ statusCode: 503 }),
      onFailure: (error) => failures.push(error),
    });
    cleanups.push(() => thread.close());
    const address = new URL(thread.gateways[0]!.url).host;
    expect((await get(address, '/', { host: 'acme.localhost' })).status).toBe(503);

    routing.send!('acme.localhost', null as unknown as HostRoute[]);
    await waitFor('the failure reported', () => failures.length > 0);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/^the gateway thread failed: /);
    await expect(get(address, '/', { host: 'acme.localhost', timeoutMs: 1_000 })).rejects.toThrow(/ECONNREFUSED/);
    await expect(thread.activity.activity([ACME], WINDOW)).rejects.toThrow(/the gateway thread failed/);
  });
});
