import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchLogsClient, FilterLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchTenantLogs } from '../../shared/adapters/aws/cloudwatch-tenant-logs.js';
import { LocalTenantLogs } from '../../shared/adapters/local/local-tenant-logs.js';
import { ValidationError } from '../../shared/domain/errors.js';

// The files are real; the spy only counts the writes.
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof import('node:fs/promises')>();
  return { ...actual, appendFile: vi.fn(actual.appendFile) };
});

const now = new Date('2026-12-06T12:00:00.000Z');
const clock = { now: () => now };

describe('tenant logs in embedded mode (files)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'dormouse-logs-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const line = (n: number) => ({ at: new Date(now.getTime() + n * 1000).toISOString(), stream: 'stdout' as const, message: `line ${n}` });

  it('keeps two files at most, rotating at the size given, and serves the newest lines', async () => {
    const logs = new LocalTenantLogs(root, { fileBytes: 1024 });
    for (let n = 1; n <= 100; n++) void logs.append('acme', line(n));
    await logs.flush();

    const files = readdirSync(join(root, 'logs', 'acme')).sort();
    const newest = await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 3 });

    expect(files).toEqual(['output.log', 'output.log.1']);
    for (const file of files) expect(statSync(join(root, 'logs', 'acme', file)).size).toBeLessThanOrEqual(1024);
    // One batch crossed the size several times: the kept lines are numbered on without a gap.
    const kept = ['output.log.1', 'output.log'].flatMap((file) =>
      readFileSync(join(root, 'logs', 'acme', file), 'utf8')
        .trim()
        .split('\n')
        .map((row) => (JSON.parse(row) as { seq: number }).seq),
    );
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, index) => 101 - kept.length + index));
    expect(newest.lines.map((kept) => kept.message)).toEqual(['line 98', 'line 99', 'line 100']);
    expect(newest.lines[0]).toEqual(line(98));
  });

  it('goes on after `next`, and from `since`, oldest first; a new run numbers on', async () => {
    const logs = new LocalTenantLogs(root);
    for (let n = 1; n <= 5; n++) void logs.append('acme', line(n));
    const first = await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 2, since: line(2).at });
    const nothingYet = await logs.read(
      { tenantId: 'acme', tasks: [] },
      { limit: 100, next: (await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 1 })).next! },
    );
    // A later run (npm start again) appends after what the files hold.
    const again = new LocalTenantLogs(root);
    await again.append('acme', line(6));

    const rest = await again.read({ tenantId: 'acme', tasks: [] }, { limit: 100, next: first.next! });

    expect(first.lines.map((kept) => kept.message)).toEqual(['line 2', 'line 3']);
    expect(nothingYet.lines).toEqual([]);
    expect(rest.lines.map((kept) => kept.message)).toEqual(['line 4', 'line 5', 'line 6']);
  });

  it('writes the lines a tenant prints close together in one go, which a read sees at once', async () => {
    const logs = new LocalTenantLogs(root);
    vi.mocked(appendFile).mockClear();
    for (let n = 1; n <= 500; n++) void logs.append('acme', line(n));
    void logs.append('globex', line(1));

    const read = await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 1_000 });
    await logs.flush();

    expect(read.lines.map((kept) => kept.message)).toEqual(Array.from({ length: 500 }, (_, index) => `line ${index + 1}`));
    // One write per tenant, not one per line.
    expect(vi.mocked(appendFile).mock.calls.map(([path]) => String(path).split('/').slice(-2).join('/'))).toEqual([
      'acme/output.log',
      'globex/output.log',
    ]);
  });

  it('tells the caller of every line of a write that failed, and goes on with the next lines', async () => {
    const logs = new LocalTenantLogs(root);
    writeFileSync(join(root, 'logs'), 'not a directory');
    const failures: string[] = [];

    for (let n = 1; n <= 3; n++) void logs.append('acme', line(n), () => failures.push(`line ${n}`));
    await logs.flush();
    rmSync(join(root, 'logs'));
    await logs.append('acme', line(4));

    expect(failures).toEqual(['line 1', 'line 2', 'line 3']);
    expect((await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 10 })).lines.map((kept) => kept.message)).toEqual(['line 4']);
  });

  it('refuses a `next` it did not hand out, and forgets a removed tenant', async () => {
    const logs = new LocalTenantLogs(root);
    await logs.append('acme', line(1));

    await expect(logs.read({ tenantId: 'acme', tasks: [] }, { limit: 1, next: '../etc' })).rejects.toThrow(ValidationError);
    await logs.remove('acme');
    expect((await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 10 })).lines).toEqual([]);
  });
});

describe('tenant logs on AWS (CloudWatch Logs)', () => {
  const client = new CloudWatchLogsClient({ region: 'eu-west-1' });
  const cloudWatch = mockClient(client);
  const logs = new CloudWatchTenantLogs({ logGroupName: 'Dormouse-TenantLogs', client, clock });
  const source = { tenantId: 'acme', tasks: ['newtask', 'oldtask'] };
  const at = (seconds: number) => now.getTime() + seconds * 1000;

  beforeEach(() => cloudWatch.reset());

  it("reads the streams of the tenant's own tasks only, page after page, from `since`", async () => {
    cloudWatch
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [{ eventId: 'e1', timestamp: at(1), message: 'GET / 200\n' }], nextToken: 'page-2' })
      .resolvesOnce({ events: [{ eventId: 'e2', timestamp: at(2), message: 'GET /whoami 200\n' }] });

    const page = await logs.read(source, { since: new Date(at(0)).toISOString(), limit: 2 });

    const filter = {
      logGroupName: 'Dormouse-TenantLogs',
      logStreamNames: ['tenant/app/newtask', 'tenant/app/oldtask'],
      startTime: at(0),
      limit: 2,
    };
    expect(cloudWatch).toHaveReceivedCommandTimes(FilterLogEventsCommand, 2);
    expect(cloudWatch).toHaveReceivedNthCommandWith(FilterLogEventsCommand, 1, filter);
    expect(cloudWatch).toHaveReceivedNthCommandWith(FilterLogEventsCommand, 2, { ...filter, nextToken: 'page-2' });
    expect(page.lines).toEqual([
      { at: new Date(at(1)).toISOString(), message: 'GET / 200' },
      { at: new Date(at(2)).toISOString(), message: 'GET /whoami 200' },
    ]);
  });

  it('goes on after `next` without repeating the lines of the same millisecond', async () => {
    cloudWatch
      .on(FilterLogEventsCommand)
      .resolvesOnce({
        events: [
          { eventId: 'e1', timestamp: at(1), message: 'one' },
          { eventId: 'e2', timestamp: at(1), message: 'two' },
        ],
      })
      .resolvesOnce({
        events: [
          { eventId: 'e1', timestamp: at(1), message: 'one' },
          { eventId: 'e2', timestamp: at(1), message: 'two' },
          { eventId: 'e3', timestamp: at(1), message: 'three' },
        ],
      });
    const first = await logs.read(source, { since: new Date(at(0)).toISOString(), limit: 10 });

    const after = await logs.read(source, { limit: 10, next: first.next! });

    expect(cloudWatch).toHaveReceivedNthCommandWith(FilterLogEventsCommand, 2, {
      logGroupName: 'Dormouse-TenantLogs',
      logStreamNames: ['tenant/app/newtask', 'tenant/app/oldtask'],
      startTime: at(1),
      limit: 10,
    });
    expect(after.lines.map((kept) => kept.message)).toEqual(['three']);
  });

  it('serves the newest lines from the last minute when it holds enough, reading all its pages', async () => {
    cloudWatch
      .on(FilterLogEventsCommand)
      .resolvesOnce({
        events: [1, 2, 3].map((n) => ({ eventId: `e${n}`, timestamp: at(n - 10), message: `line ${n}` })),
        nextToken: 'more',
      })
      .resolvesOnce({ events: [{ eventId: 'e4', timestamp: at(-1), message: 'line 4' }] });

    const page = await logs.read(source, { limit: 2 });

    const filter = {
      logGroupName: 'Dormouse-TenantLogs',
      logStreamNames: ['tenant/app/newtask', 'tenant/app/oldtask'],
      startTime: now.getTime() - 60_000,
      limit: 2,
    };
    expect(cloudWatch).toHaveReceivedCommandTimes(FilterLogEventsCommand, 2);
    expect(cloudWatch).toHaveReceivedNthCommandWith(FilterLogEventsCommand, 2, { ...filter, nextToken: 'more' });
    expect(page.lines.map((kept) => kept.message)).toEqual(['line 3', 'line 4']);
  });

  it('looks further back, up to an hour, when the last minute holds too few lines', async () => {
    cloudWatch
      .on(FilterLogEventsCommand)
      .resolvesOnce({ events: [{ eventId: 'e3', timestamp: at(-5), message: 'line 3' }] })
      .resolvesOnce({ events: [{ eventId: 'e3', timestamp: at(-5), message: 'line 3' }] })
      .resolvesOnce({
        events: [1, 2, 3].map((n) => ({ eventId: `e${n}`, timestamp: at(n * 1000 - 3_500), message: `line ${n}` })),
      });

    const page = await logs.read(source, { limit: 3 });

    expect(cloudWatch.commandCalls(FilterLogEventsCommand).map((call) => call.args[0].input.startTime)).toEqual([
      now.getTime() - 60_000,
      now.getTime() - 600_000,
      now.getTime() - 3_600_000,
    ]);
    expect(page.lines.map((kept) => kept.message)).toEqual(['line 1', 'line 2', 'line 3']);
  });

  it('asks nothing for a tenant that never had a task, and answers no lines for streams not yet written', async () => {
    const none = await logs.read({ tenantId: 'acme', tasks: [] }, { limit: 10 });
    expect(cloudWatch).toHaveReceivedCommandTimes(FilterLogEventsCommand, 0);
    cloudWatch
      .on(FilterLogEventsCommand)
      .rejects(new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} }));

    const missing = await logs.read(source, { limit: 10 });

    expect(none.lines).toEqual([]);
    expect(missing.lines).toEqual([]);
  });

  it('refuses a `next` it did not hand out', async () => {
    await expect(logs.read(source, { limit: 10, next: 'not-a-position' })).rejects.toThrow(ValidationError);
    expect(cloudWatch).toHaveReceivedCommandTimes(FilterLogEventsCommand, 0);
  });
});
