import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { embeddedTestEnv, eventually } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';

/** A tenant application whose only traffic is a WebSocket: it echoes every message. */
function writeChatApp(): string {
  const directory = mkdtempSync(join(tmpdir(), 'dormouse-chat-'));
  const app = join(directory, 'chat.cjs');
  const ws = createRequire(import.meta.url).resolve('ws');
  writeFileSync(
    app,
    `const { WebSocketServer } = require(${JSON.stringify(ws)});
    const server = require('http').createServer((q, s) => s.end('chat'));
    new WebSocketServer({ server }).on('connection', (socket) => socket.on('message', (data) => socket.send(String(data))));
    server.listen(+process.env.PORT, '127.0.0.1');`,
  );
  return app;
}

type Opened = { socket: WebSocket } | { status: number; retryAfter: string | undefined; body: string };

/** Opens a WebSocket to `host` through the gateway, as a browser on that host would. */
function openSocket(gatewayUrl: string, host: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${gatewayUrl.replace('http', 'ws')}/socket`, { headers: { host } });
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    socket.once('error', reject);
  });
}

function echo(socket: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('message', (data) => resolve(String(data)));
    socket.send(message);
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('embedded mode: a tenant whose only traffic is a WebSocket', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    const tables = await createTestTables();
    embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_TENANT_COMMAND: `'${process.execPath}' '${writeChatApp()}'`,
        DORMOUSE_SWEEP_SECONDS: '3600',
        DORMOUSE_IDLE_SECONDS: '1',
        DORMOUSE_MIN_RUN_SECONDS: '1',
      },
      { onError: () => {} },
    );
    call = apiClient(embedded.apiUrl);
  });
  afterAll(async () => {
    await embedded?.stop();
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;

  it('stays awake while the socket is open, sleeps once it closes, and is woken by the next upgrade, which gets the waking answer at once', async () => {
    // Prepare: chat runs, and a client holds a WebSocket to it.
    await call('/tenants', { method: 'POST', body: { slug: 'chat', email: 'c@chat.test' } });
    await eventually(
      'chat running',
      () => phaseOf('chat'),
      (phase) => phase === 'Running',
    );
    const opened = await openSocket(embedded.gatewayUrl, 'chat.localhost');
    if (!('socket' in opened)) throw new Error(`expected an upgrade, got ${opened.status}`);
    expect(await echo(opened.socket, 'hello')).toBe('hello');

    // Act: sweeps past the idle timeout with no request, only the open socket.
    await embedded.sweepNow();
    await pause(1_500);
    const whileOpen = await embedded.sweepNow();

    // Assess: the open connection is activity.
    expect(whileOpen).toMatchObject({ active: 1, passivated: 0 });
    expect(await echo(opened.socket, 'still here')).toBe('still here');

    // Act: the client goes away; the tenant idles past the timeout.
    await new Promise((resolve) => {
      opened.socket.once('close', resolve);
      opened.socket.close();
    });
    await pause(1_500);
    const afterClose = await embedded.sweepNow();

    // Assess
    expect(afterClose).toMatchObject({ active: 0, passivated: 1 });
    await eventually(
      'chat asleep',
      () => phaseOf('chat'),
      (phase) => phase === 'Passivated',
    );

    // Act: a WebSocket client comes back to the sleeping tenant.
    const refused = await openSocket(embedded.gatewayUrl, 'chat.localhost');

    // Assess: no upgrade, but a wake and when to retry (a WebSocket client cannot follow a 307,
    // so it is not held); once the tenant runs, the next upgrade goes through.
    expect(refused).toMatchObject({ status: 503, retryAfter: '5' });
    await eventually(
      'chat woken',
      () => phaseOf('chat'),
      (phase) => phase === 'Running',
    );
    const again = await openSocket(embedded.gatewayUrl, 'chat.localhost');
    if (!('socket' in again)) throw new Error(`expected an upgrade, got ${again.status}`);
    expect(await echo(again.socket, 'back')).toBe('back');
    await new Promise((resolve) => {
      again.socket.once('close', resolve);
      again.socket.close();
    });
  });
});
