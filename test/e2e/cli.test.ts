import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { EXIT } from '../../cli/errors.js';
import { eventually, startTestApi, startTestEmbedded, TEST_ADMIN_TOKEN } from '../support/api-server.js';
import { dormouse } from '../support/cli.js';

const run = promisify(execFile);

/** A request to the gateway for `host`, as a browser would send it (fetch cannot set Host). */
function viaGateway(gatewayUrl: string, host: string, path: string): Promise<number> {
  const url = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const sent = request({ host: url.hostname, port: url.port, path, headers: { host } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    sent.on('error', reject);
    sent.end();
  });
}

/** Rows of a table the CLI printed, split on its column gaps. */
function rows(table: string): string[][] {
  return table
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/ {2,}/));
}

describe('dormouse against embedded mode', () => {
  let embedded: Embedded;
  const admin = (argv: string[]) => dormouse([...argv, '--api', embedded.apiUrl], { env: { DORMOUSE_ADMIN_TOKEN: TEST_ADMIN_TOKEN } });

  beforeAll(async () => {
    ({ embedded } = await startTestEmbedded());
  });
  afterAll(async () => {
    await embedded?.stop();
  });

  it('creates a tenant, prints its token once, and with --wait follows it until it runs', async () => {
    const created = await admin(['create', 'acme', '--email', 'ann@acme.test', '--wait']);

    expect(created.code).toBe(EXIT.ok);
    expect(created.stdout).toMatch(/^id: +acme$/m);
    expect(created.stdout).toMatch(/^token: +dmt_\S+$/m);
    expect(created.stderr).toContain('Keep the token');
    expect(created.stderr).toMatch(/^acme: Running, done \(\d+\.\d s\)$/m);
  });

  it('lists tenants as a table, filters by phase, and prints JSON for scripts', async () => {
    const table = await admin(['list']);
    const running = await admin(['list', '--phase', 'Running']);
    const asleep = await admin(['list', '--phase', 'Passivated']);
    const asJson = await admin(['list', '--json']);

    expect(table.code).toBe(EXIT.ok);
    const [header, ...tenants] = rows(table.stdout);
    expect(header).toEqual(['ID', 'PHASE', 'DESIRED', 'PLAN', 'SHARD', 'LAST ACTIVE', 'COST TO DATE']);
    expect(tenants).toEqual([
      [
        'acme',
        'Running',
        'running',
        'trial',
        '0',
        expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
        expect.stringMatching(/^\d+\.\d{4} USD$/),
      ],
    ]);
    expect(rows(running.stdout).map(([id]) => id)).toEqual(['ID', 'acme']);
    expect(rows(asleep.stdout).map(([id]) => id)).toEqual(['ID']);
    expect(JSON.parse(asJson.stdout)).toEqual([expect.objectContaining({ id: 'acme', phase: 'Running', email: 'ann@acme.test' })]);
  });

  it('passivates and wakes with --wait, showing each step until done', async () => {
    const asleep = await admin(['passivate', 'acme', '--wait']);
    expect(asleep.code).toBe(EXIT.ok);
    expect(asleep.stderr.trimEnd().split('\n').at(-1)).toMatch(/^acme: Passivated, done \(\d+\.\d s\)$/);
    expect(asleep.stdout).toMatch(/^phase: +Passivated$/m);

    const awake = await admin(['wake', 'acme', '--wait', '--json']);
    expect(awake.code).toBe(EXIT.ok);
    expect(awake.stderr).toMatch(/^acme: (Waking|Pending|Starting)/m);
    expect(awake.stderr.trimEnd().split('\n').at(-1)).toMatch(/^acme: Running, done/);
    expect(JSON.parse(awake.stdout)).toMatchObject({ id: 'acme', phase: 'Running', desired: 'running' });
  });

  it("shows the tenant's timeline from embedded mode, oldest first", async () => {
    const phasesOf = (table: string) => rows(table).map(([, phase]) => phase);
    // The timeline is written from the table's stream, a moment after each change.
    const timeline = await eventually(
      'the wake in the timeline',
      () => admin(['events', 'acme']),
      (run) => phasesOf(run.stdout).lastIndexOf('Running') > phasesOf(run.stdout).indexOf('Passivated'),
    );

    expect(timeline.code).toBe(EXIT.ok);
    const [header, ...events] = rows(timeline.stdout);
    expect(header).toEqual(['AT', 'PHASE', 'DESIRED', 'CAPACITY', 'SHARD', 'PLAN', 'REASON']);
    // Signed up, ran on Spot, slept when asked, and woke.
    expect(events[0]).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/), 'Pending', 'running', '-', '-', 'trial']);
    expect(events).toContainEqual([expect.any(String), 'Running', 'running', 'spot', '-', 'trial']);
    expect(events).toContainEqual([expect.any(String), 'Passivated', 'passivated', '-', '-', 'trial']);
  });

  it("prints the lines the tenant's app logged, a request through the gateway among them", async () => {
    await viaGateway(embedded.gatewayUrl, 'acme.localhost', '/whoami?from=cli-test');

    const logged = await eventually(
      'the request logged',
      () => admin(['logs', 'acme']),
      (run) => run.stdout.includes('/whoami?from=cli-test'),
    );

    expect(logged.code).toBe(EXIT.ok);
    expect(logged.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z +stdout +GET \/whoami\?from=cli-test 200 \d+ms host=acme\.localhost$/m);
  });

  it('gets one tenant as label and value lines', async () => {
    const shown = await admin(['get', 'acme']);

    expect(shown.code).toBe(EXIT.ok);
    expect(shown.stdout).toMatch(/^url: +http:\/\/acme\.localhost:\d+\/?$/m);
    expect(shown.stdout).toMatch(/^phase: +Running$/m);
    expect(shown.stdout).not.toMatch(/^token:/m);
  });

  it('ends in one line that says what to do, with an exit status per kind of failure', async () => {
    const unknown = await admin(['get', 'nobody-here']);
    const badSlug = await admin(['create', 'A', '--email', 'x@y.test']);
    const wrongToken = await dormouse(['list', '--api', embedded.apiUrl], { env: { DORMOUSE_ADMIN_TOKEN: 'not-the-token' } });
    const noToken = await dormouse(['list', '--api', embedded.apiUrl]);
    const badCommand = await admin(['sleep', 'acme']);

    expect([unknown.code, badSlug.code, wrongToken.code, noToken.code, badCommand.code]).toEqual([
      EXIT.notFound,
      EXIT.refused,
      EXIT.denied,
      EXIT.denied,
      EXIT.usage,
    ]);
    for (const failed of [unknown, badSlug, wrongToken, noToken, badCommand]) {
      expect(failed.stdout).toBe('');
      expect(failed.stderr).toMatch(/^dormouse: [^\n]+\n$/);
    }
    expect(badSlug.stderr).toBe('dormouse: Invalid signup: slug must be 3 to 40 characters long (invalid_request)\n');
    expect(wrongToken.stderr).toContain('set DORMOUSE_ADMIN_TOKEN');
  });

  it('runs as the bin package.json declares, in a process of its own', async () => {
    const { stdout } = await run(process.execPath, ['cli/dormouse.mjs', 'get', 'acme', '--json', '--api', embedded.apiUrl], {
      env: { ...process.env, DORMOUSE_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    });
    expect(JSON.parse(stdout)).toMatchObject({ id: 'acme' });

    const failed = await run(process.execPath, ['cli/dormouse.mjs', 'get', 'nobody-here', '--api', embedded.apiUrl], {
      env: { ...process.env, DORMOUSE_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: EXIT.notFound, stderr: expect.stringMatching(/^dormouse: [^\n]+\n$/) });
  });

  it('deletes with --wait until the tenant is gone', async () => {
    const deleted = await admin(['delete', 'acme', '--wait']);

    expect(deleted.code).toBe(EXIT.ok);
    expect(deleted.stderr.trimEnd().split('\n').at(-1)).toMatch(/^acme: (Deleted, done|gone) \(/);
  });
});

describe('dormouse plan and extend', () => {
  const PLANS = [
    { name: 'trial', trialDays: 14, public: true },
    { name: 'team', trialDays: 30, public: true },
  ];
  let apiUrl: string;
  let stop: () => Promise<void>;
  const admin = (argv: string[]) => dormouse([...argv, '--api', apiUrl], { env: { DORMOUSE_ADMIN_TOKEN: TEST_ADMIN_TOKEN } });

  beforeAll(async () => {
    const { embedded } = await startTestApi({ DORMOUSE_PLANS: JSON.stringify(PLANS) });
    apiUrl = embedded.apiUrl;
    stop = () => embedded.stop();
    await admin(['create', 'globex', '--email', 'gus@globex.test']);
  });
  afterAll(async () => {
    await stop?.();
  });

  it('moves a tenant to another plan, and names the plans when asked for one that does not exist', async () => {
    const moved = await admin(['plan', 'globex', 'team']);
    const refused = await admin(['plan', 'globex', 'platinum']);

    expect(moved.code).toBe(EXIT.ok);
    expect(moved.stdout).toMatch(/^plan: +team$/m);
    expect(refused.code).toBe(EXIT.refused);
    expect(refused.stderr).toMatch(/^dormouse: .*platinum.*\n$/);
  });

  it('ends the trial N days later than it would have', async () => {
    const before = JSON.parse((await admin(['get', 'globex', '--json'])).stdout) as { trialEndsAt: string };

    const extended = await admin(['extend', 'globex', '--days', '7', '--json']);

    expect(extended.code).toBe(EXIT.ok);
    const after = JSON.parse(extended.stdout) as { trialEndsAt: string };
    expect(Date.parse(after.trialEndsAt) - Date.parse(before.trialEndsAt)).toBe(7 * 24 * 60 * 60 * 1000);
  });
});
