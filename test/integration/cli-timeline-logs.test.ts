import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/errors.js';
import { dormouse } from '../support/cli.js';

const TOKEN = 'admin-token-for-cli-tests';

const EVENTS = [
  { at: '2026-12-06T09:00:00.000Z', phase: 'Pending', desired: 'running', plan: 'trial' },
  { at: '2026-12-06T09:00:04.250Z', phase: 'Running', desired: 'running', capacity: 'spot', shard: 1, plan: 'trial' },
  { at: '2026-12-06T09:20:00.000Z', phase: 'Passivated', desired: 'passivated', reason: 'idle for 15 minutes' },
];

/**
 * The timeline and logs routes as the API's contract states them, on loopback: the events oldest
 * first; logs in pages, each with an opaque `next` to continue from.
 */
describe('dormouse events and logs', () => {
  let apiUrl: string;
  let close: () => Promise<void>;
  const asked: string[] = [];
  /**
   * Log pages by the token that asks for them (the first is asked for without one); asked from a
   * time, every line from that instant on.
   */
  let pages: Record<string, { lines: { at: string; message: string; stream?: string }[]; next?: string }>;
  /** How many log requests to come are answered 503, as the API answers when CloudWatch Logs throttles. */
  let busyAnswers = 0;

  beforeAll(async () => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      asked.push(`${request.method} ${url.pathname}${url.search}`);
      const send = (status: number, body: unknown) =>
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (request.headers.authorization !== `Bearer ${TOKEN}`)
        return send(401, { error: { code: 'unauthorized', message: 'An admin token is required.' } });
      if (url.pathname === '/tenants/acme/events') return send(200, { events: EVENTS });
      if (url.pathname === '/tenants/acme/logs') {
        if (busyAnswers > 0) {
          busyAnswers--;
          response.setHeader('retry-after', '5');
          return send(503, { error: { code: 'busy', message: 'This is busy right now; try again in a few seconds.' } });
        }
        const since = url.searchParams.get('since');
        if (since !== null)
          return send(200, { lines: Object.values(pages).flatMap((page) => page.lines.filter((line) => line.at >= since)) });
        return send(200, pages[url.searchParams.get('next') ?? 'first'] ?? { lines: [] });
      }
      return send(404, { error: { code: 'not_found', message: 'Tenant nobody does not exist.' } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterAll(async () => close?.());
  beforeEach(() => {
    asked.length = 0;
    busyAnswers = 0;
    pages = {
      first: { lines: [{ at: '2026-12-06T09:00:05.000Z', message: 'listening on 8080', stream: 'stdout' }], next: 'p2' },
      p2: { lines: [{ at: '2026-12-06T09:00:06.000Z', message: 'GET /whoami 200', stream: 'stdout' }], next: 'p3' },
      p3: { lines: [{ at: '2026-12-06T09:00:07.000Z', message: 'disk almost full', stream: 'stderr' }] },
      // Written later (reached only by asking from a time): a line that would clear the
      // operator's screen if it were printed as it is.
      later: { lines: [{ at: '2026-12-06T09:00:08.000Z', message: 'boom\u001b[2J\u0007', stream: 'stderr' }] },
    };
  });
  const admin = (argv: string[], signal?: AbortSignal) =>
    dormouse([...argv, '--api', apiUrl], { env: { DORMOUSE_ADMIN_TOKEN: TOKEN }, ...(signal ? { signal } : {}) });

  it('shows the timeline as a table, oldest first, and as JSON', async () => {
    const table = await admin(['events', 'acme']);
    const asJson = await admin(['events', 'acme', '--json']);

    expect(table.code).toBe(EXIT.ok);
    expect(table.stdout).toBe(
      [
        'AT                    PHASE       DESIRED     CAPACITY  SHARD  PLAN   REASON',
        '2026-12-06 09:00:00Z  Pending     running     -         -      trial',
        '2026-12-06 09:00:04Z  Running     running     spot      1      trial',
        '2026-12-06 09:20:00Z  Passivated  passivated  -         -      -      idle for 15 minutes',
        '',
      ].join('\n'),
    );
    expect(JSON.parse(asJson.stdout)).toEqual(EVENTS);
  });

  it('prints the recent log lines, from a time and up to a count when asked', async () => {
    const recent = await admin(['logs', 'acme', '--since', '2026-12-06T09:00:00Z', '--limit', '50']);

    expect(recent.code).toBe(EXIT.ok);
    expect(recent.stdout).toBe(
      [
        '2026-12-06T09:00:05.000Z  stdout  listening on 8080',
        '2026-12-06T09:00:06.000Z  stdout  GET /whoami 200',
        '2026-12-06T09:00:07.000Z  stderr  disk almost full',
        '2026-12-06T09:00:08.000Z  stderr  boom\\u001b[2J\\u0007',
        '',
      ].join('\n'),
    );
    expect(asked).toEqual(['GET /tenants/acme/logs?since=2026-12-06T09%3A00%3A00.000Z&limit=50']);
  });

  it('with --follow, keeps asking with the next token, then from the last line, until interrupted; one JSON line each with --json', async () => {
    const stop = new AbortController();
    const following = admin(['logs', 'acme', '--follow', '--json'], stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 500));
    pages.latest = { lines: [{ at: '2026-12-06T09:00:09.000Z', message: 'GET / 200', stream: 'stdout' }] };
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop.abort();
    const followed = await following;

    expect(followed.code).toBe(EXIT.ok);
    expect(
      followed.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).message),
    ).toEqual(['listening on 8080', 'GET /whoami 200', 'disk almost full', 'boom\u001b[2J\u0007', 'GET / 200']);
    expect(asked.slice(0, 4)).toEqual([
      'GET /tenants/acme/logs',
      'GET /tenants/acme/logs?next=p2',
      'GET /tenants/acme/logs?next=p3',
      'GET /tenants/acme/logs?since=2026-12-06T09%3A00%3A07.000Z',
    ]);
  });

  it('with --follow, waits out a busy API, saying so once; without it, a busy answer ends the command', async () => {
    busyAnswers = 1;
    const once = await admin(['logs', 'acme']);
    busyAnswers = 3;
    const stop = new AbortController();
    const following = admin(['logs', 'acme', '--follow'], stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 800));
    stop.abort();
    const followed = await following;

    expect(once).toMatchObject({ code: EXIT.unavailable, stdout: '' });
    expect(once.stderr).toBe('dormouse: This is busy right now; try again in a few seconds (busy)\n');
    expect(followed.code).toBe(EXIT.ok);
    expect(followed.stderr).toBe(
      'This is busy right now; try again in a few seconds (busy); trying again until it answers (Ctrl-C to stop)\n',
    );
    expect(followed.stdout).toContain('listening on 8080');
    expect(asked.filter((request) => request === 'GET /tenants/acme/logs')).toHaveLength(5);
  });

  it('says what to do when the tenant is unknown or the token is wrong', async () => {
    const unknown = await admin(['events', 'nobody']);
    const wrong = await dormouse(['logs', 'acme', '--api', apiUrl], { env: { DORMOUSE_ADMIN_TOKEN: 'wrong' } });

    expect(unknown).toMatchObject({ code: EXIT.notFound, stdout: '', stderr: 'dormouse: Tenant nobody does not exist (not_found)\n' });
    expect(wrong.code).toBe(EXIT.denied);
    expect(wrong.stderr).toMatch(/^dormouse: An admin token is required \(unauthorized\): set DORMOUSE_ADMIN_TOKEN .*\n$/);
  });
});
