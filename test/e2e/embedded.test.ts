import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { embeddedTestEnv, eventually, startTestEmbedded } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';

/** A request to the gateway as `curl -H 'Host: <host>'` sends it (fetch cannot set Host). */
function viaGateway(gatewayUrl: string, host: string, path: string, headers: Record<string, string> = {}) {
  const url = new URL(gatewayUrl);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: { host, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The whole lifecycle in embedded mode with real processes and real HTTP: what a newcomer sees
 * after `npm start`.
 */
describe('embedded mode, end to end', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  const pids = new Set<number>();

  beforeAll(async () => {
    ({ embedded } = await startTestEmbedded(ADMIN));
    call = apiClient(embedded.apiUrl);
  });

  afterAll(async () => {
    // Cleans up even when a step failed: every tenant process and everything else it started.
    await embedded?.stop();
    for (const pid of pids) expect(alive(pid), `tenant process ${pid} outlived the control plane`).toBe(false);
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;
  const whoami = async (id: string) => {
    const answer = await viaGateway(embedded.gatewayUrl, `${id}.localhost`, '/whoami');
    if (answer.status === 200) pids.add(JSON.parse(answer.text).pid);
    return answer;
  };

  it('runs a signed-up tenant, sleeps it when idle, wakes it on a request, restarts it when killed, and deletes it', async () => {
    // Sign up → Running → the tenant answers through the gateway.
    const { token } = (await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'ann@acme.test' } })).body;
    await eventually(
      'acme running',
      () => phaseOf('acme'),
      (phase) => phase === 'Running',
    );
    const first = await whoami('acme');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.text)).toMatchObject({ tenant: 'acme', host: 'acme.localhost' });
    const firstPid = JSON.parse(first.text).pid as number;

    // No traffic → passivated: the process is gone, the host shows the waking page. The first
    // sweep sees the request above and marks the tenant active; the next one finds it idle.
    expect((await embedded.sweepNow()).active).toBe(1);
    // Idleness is measured on the wall clock that embedded mode runs on: let the 1 s pass.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const report = await embedded.sweepNow();
    expect(report).toMatchObject({ active: 0, passivated: 1 });
    await eventually(
      'acme passivated',
      () => phaseOf('acme'),
      (phase) => phase === 'Passivated',
    );
    await eventually(
      'first process gone',
      async () => alive(firstPid),
      (isAlive) => !isAlive,
    );

    // The next visit, a browser's, gets the waking page and wakes it.
    const waking = await viaGateway(embedded.gatewayUrl, 'acme.localhost', '/whoami', { accept: 'text/html' });
    expect(waking.status).toBe(503);
    expect(waking.headers['retry-after']).toBe('5');
    expect(waking.text).toMatch(/Waking up acme/);
    await eventually(
      'acme woken',
      () => whoami('acme'),
      (answer) => answer.status === 200,
    );
    expect(await phaseOf('acme')).toBe('Running');

    // Metered here too: the first run (ended by the passivation), the wake, the run under way.
    const usage = (await call('/tenants/acme/usage', { token })).body;
    expect(usage).toMatchObject({ tenantId: 'acme', wakes: 1, passivations: 1, running: true, costToDate: { currency: 'USD' } });
    expect(Object.keys(usage.runningSeconds)).toEqual(['spot:256:512']);
    expect(usage.runningSeconds['spot:256:512']).toBeGreaterThan(1);
    expect(usage.costToDate.amount).toBeGreaterThan(0);

    // A killed tenant process is restarted.
    const beforeKill = JSON.parse((await whoami('acme')).text).pid as number;
    process.kill(beforeKill, 'SIGKILL');
    const restarted = await eventually(
      'acme restarted',
      () => whoami('acme'),
      (answer) => answer.status === 200 && JSON.parse(answer.text).pid !== beforeKill,
    );
    const restartedPid = JSON.parse(restarted.text).pid as number;

    // Delete → 410, process gone, nothing left.
    expect((await call('/tenants/acme', { method: 'DELETE', token })).status).toBe(202);
    await eventually(
      'acme deleted',
      () => phaseOf('acme'),
      (phase) => phase === 'Deleted',
    );
    await eventually(
      'restarted process gone',
      async () => alive(restartedPid),
      (isAlive) => !isAlive,
    );
    const gone = await viaGateway(embedded.gatewayUrl, 'acme.localhost', '/whoami');
    expect(gone.status).toBe(410);
    const sweep = await embedded.sweepNow();
    expect(sweep.repaired).toMatchObject({ tasks: 0, rules: 0, targetGroups: 0 });
  }, 90_000);

  it('replaces a tenant’s process when an admin changes its plan, stopping the old one before the new one gets its data', async () => {
    // Prepare: a running tenant that has counted one visit in its DATA_DIR.
    await call('/tenants', { method: 'POST', body: { slug: 'planco', email: 'ann@planco.test' } });
    await eventually(
      'planco running',
      () => phaseOf('planco'),
      (phase) => phase === 'Running',
    );
    const before = JSON.parse((await whoami('planco')).text) as { pid: number; visits: number };

    // Act
    const changed = await call('/tenants/planco', { method: 'PATCH', body: { plan: 'pro' }, token: ADMIN });

    // Assess: a new process on the new plan, the old one gone, the data kept.
    expect(changed.status).toBe(200);
    const after = await eventually(
      'planco on a new process',
      () => whoami('planco'),
      (answer) => answer.status === 200 && JSON.parse(answer.text).pid !== before.pid,
    );
    // Requests polled while the old process still served counted too: the count went on, not from 1.
    expect(JSON.parse(after.text).tenant).toBe('planco');
    expect(JSON.parse(after.text).visits).toBeGreaterThanOrEqual(before.visits + 1);
    expect(alive(before.pid)).toBe(false);
    await eventually(
      'planco settled on pro',
      async () => (await call('/tenants/planco')).body as { phase: string; plan: string; observedGeneration: number },
      (status) => status.phase === 'Running' && status.plan === 'pro' && status.observedGeneration === 2,
    );
  });

  it('never lets two tenants see each other’s traffic', async () => {
    await call('/tenants', { method: 'POST', body: { slug: 'alpha', email: 'a@alpha.test' } });
    await call('/tenants', { method: 'POST', body: { slug: 'bravo', email: 'b@bravo.test' } });
    await eventually(
      'both running',
      async () => [await phaseOf('alpha'), await phaseOf('bravo')],
      (phases) => phases.every((p) => p === 'Running'),
    );

    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? 'alpha' : 'bravo')).map(async (id) => ({ id, answer: await whoami(id) })),
    );

    for (const { id, answer } of answers) expect(JSON.parse(answer.text).tenant).toBe(id);
  }, 60_000);

  it('gives two slugs whose names once collided their own traffic: the first host is always served by the first tenant', async () => {
    // With 32 bits of hash these two shared a target group, and the second took the first's traffic.
    const [first, second] = ['acme-corporation-production-trial-env', 'acme-corporation-productionzodudz6aaa'];
    await call('/tenants', { method: 'POST', body: { slug: first, email: 'ops@first.test' } });
    await eventually(
      'first running',
      () => phaseOf(first),
      (phase) => phase === 'Running',
    );
    const firstPid = JSON.parse((await whoami(first)).text).pid as number;

    await call('/tenants', { method: 'POST', body: { slug: second, email: 'ops@second.test' } });
    await eventually(
      'second running',
      () => phaseOf(second),
      (phase) => phase === 'Running',
    );

    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(JSON.parse((await whoami(first)).text) as { tenant: string; pid: number });
    expect(answers).toEqual(Array.from({ length: 10 }, () => expect.objectContaining({ tenant: first, pid: firstPid })));
    const theirs = JSON.parse((await whoami(second)).text) as { tenant: string; pid: number };
    expect(theirs.tenant).toBe(second);
    expect(theirs.pid).not.toBe(firstPid);
    expect([await phaseOf(first), await phaseOf(second)]).toEqual(['Running', 'Running']);
  }, 60_000);

  it('answers an unknown host with the 404 page and a host of another domain the same way', async () => {
    const unknown = await viaGateway(embedded.gatewayUrl, 'nobody-here.localhost', '/', { accept: 'application/json' });
    const foreign = await viaGateway(embedded.gatewayUrl, 'example.com', '/');

    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ tenant: 'nobody-here', status: 'unknown' });
    expect(foreign.status).toBe(404);
  });

  it('says within seconds why a tenant whose application answers 404 on the health check path does not serve, then fails it', async () => {
    const tables = await createTestTables();
    const pidDir = mkdtempSync(join(tmpdir(), 'dormouse-health-'));
    // Answers every path but the default health check path, /, and notes its pid.
    const app = join(pidDir, 'app.cjs');
    writeFileSync(
      app,
      `require('fs').writeFileSync(${JSON.stringify(pidDir)} + '/' + process.env.TENANT_ID, String(process.pid));
      require('http').createServer((q, s) => { s.statusCode = q.url === '/' ? 404 : 200; s.end(); }).listen(+process.env.PORT, '127.0.0.1');`,
    );
    const broken = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_TENANT_COMMAND: `'${process.execPath}' '${app}'`,
        DORMOUSE_UNHEALTHY_SECONDS: '6',
      },
      { onError: () => {} },
    );
    try {
      const api = apiClient(broken.apiUrl);
      const statusOf = async () => (await api('/tenants/nohealth', { token: ADMIN })).body as { phase: string; reason?: string };
      const signedUpAt = Date.now();
      await api('/tenants', { method: 'POST', body: { slug: 'nohealth', email: 'n@nohealth.test' } });

      const waiting = await eventually('a reason', statusOf, (status) => status.reason !== undefined && status.reason.includes('GET /'));
      const saidAfterMs = Date.now() - signedUpAt;
      const pid = Number(readFileSync(join(pidDir, 'nohealth'), 'utf8'));
      const failed = await eventually('nohealth failed', statusOf, (status) => status.phase === 'Failed');

      expect(waiting).toMatchObject({
        phase: 'Provisioning',
        reason:
          'The application does not answer GET / with a 2xx or 3xx status (it answered 404). Make it answer there, or change the health check path.',
      });
      expect(saidAfterMs).toBeLessThan(10_000);
      expect(failed.reason).toMatch(
        /^The application does not answer GET \/ with a 2xx or 3xx status \(it answered 404\)\..*Gave up after 6 seconds/,
      );
      await eventually(
        "the failed tenant's process gone",
        async () => alive(pid),
        (isAlive) => !isAlive,
      );
    } finally {
      await broken.stop();
    }
  }, 60_000);

  it('brings back the tenants that should run after a restart on kept state', async () => {
    const tables = await createTestTables();
    const env = embeddedTestEnv(tables, ADMIN);
    const before = await startEmbedded(env, { onError: () => {} });
    let after: Embedded | undefined;
    try {
      await apiClient(before.apiUrl)('/tenants', { method: 'POST', body: { slug: 'phoenix', email: 'p@phoenix.test' } });
      const first = await eventually(
        'phoenix running',
        () => viaGateway(before.gatewayUrl, 'phoenix.localhost', '/whoami'),
        (a) => a.status === 200,
      );
      const firstPid = JSON.parse(first.text).pid as number;
      // What the check after Ctrl-C looks at: the tenant's group, and the run's watchdog.
      const whileRunning = await before.stillRunning();
      await before.stop();
      expect(alive(firstPid)).toBe(false);
      expect(whileRunning).toEqual([
        expect.stringMatching(/^tenant phoenix: process group \d+ /),
        expect.stringMatching(/^the tenant watchdog: process \d+ /),
      ]);
      expect(await before.stillRunning()).toEqual([]);

      after = await startEmbedded(env, { onError: () => {} });
      const again = await eventually(
        'phoenix back',
        () => viaGateway(after!.gatewayUrl, 'phoenix.localhost', '/whoami'),
        (a) => a.status === 200,
      );
      pids.add(JSON.parse(again.text).pid);

      expect(JSON.parse(again.text)).toMatchObject({ tenant: 'phoenix' });
      expect(JSON.parse(again.text).pid).not.toBe(firstPid);
    } finally {
      await before.stop();
      await after?.stop();
    }
  }, 60_000);
});

describe('embedded mode, a tenant that never gets healthy', () => {
  it('warns once in the terminal when a tenant has been Provisioning for longer than DORMOUSE_STUCK_MINUTES', async () => {
    // Prepare: an application that runs but never answers, and a threshold of a second
    const tables = await createTestTables();
    const lines: string[] = [];
    const embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_SWEEP_SECONDS: '3600',
        DORMOUSE_TENANT_COMMAND: 'exec sleep 600',
        DORMOUSE_STUCK_MINUTES: String(1 / 60),
      },
      { onError: () => {}, onTransition: (line) => lines.push(line) },
    );
    try {
      const call = apiClient(embedded.apiUrl);
      expect((await call('/tenants', { method: 'POST', body: { slug: 'mute', email: 'ann@mute.test' } })).status).toBe(202);
      await eventually(
        'the phase',
        async () => (await call('/tenants/mute')).body.phase as string,
        (phase) => phase === 'Provisioning',
      );
      // Time stuck is measured on the wall clock that embedded mode runs on: let the 1 s pass.
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      // Act: two sweeps, as the timer would run them
      await embedded.sweepNow();
      await embedded.sweepNow();

      // Assess
      const warnings = lines.filter((line) => line.includes('WARNING'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/mute +WARNING: Provisioning for \d+ min; (last error: |no error recorded)/);
    } finally {
      await embedded.stop();
    }
  });
});

describe('embedded mode, first steps', () => {
  it('runs the first tenant within seconds when its signup carries an Idempotency-Key, as the signup page’s does', async () => {
    const tables = await createTestTables();
    // The sweep, which would bring the tenant up eventually anyway, does not run during the test.
    const embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_SWEEP_SECONDS: '3600',
      },
      { onError: () => {} },
    );
    try {
      const call = apiClient(embedded.apiUrl);
      const signup = await call('/tenants', {
        method: 'POST',
        body: { slug: 'first', email: 'first@example.test' },
        headers: { 'idempotency-key': 'first-signup-0123456789' },
      });
      expect(signup.status).toBe(202);
      await eventually(
        'first running',
        async () => (await call('/tenants/first')).body.phase as string,
        (phase) => phase === 'Running',
        8_000,
      );
    } finally {
      await embedded.stop();
    }
  }, 30_000);
});

describe('embedded mode, a tenant’s data', () => {
  it('keeps each tenant’s visit count in its own DATA_DIR through sleep, wake and kill -9, and removes it with the tenant', async () => {
    // Prepare
    const tables = await createTestTables();
    const dataDir = mkdtempSync(join(tmpdir(), 'dormouse-tenant-data-'));
    const embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables, ADMIN),
        DORMOUSE_DATA_DIR: dataDir,
        DORMOUSE_SWEEP_SECONDS: '3600',
        DORMOUSE_IDLE_SECONDS: '1',
        DORMOUSE_MIN_RUN_SECONDS: '1',
      },
      { onError: () => {} },
    );
    try {
      const call = apiClient(embedded.apiUrl);
      const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;
      /** Every count a tenant answered with: a request that reached the application counts, whatever the test made of it. */
      const seen = new Map<string, number[]>();
      const whoami = async (id: string) => {
        const answer = await viaGateway(embedded.gatewayUrl, `${id}.localhost`, '/whoami');
        if (answer.status !== 200) return undefined;
        const body = JSON.parse(answer.text) as { pid: number; visits: number };
        seen.set(id, [...(seen.get(id) ?? []), body.visits]);
        return body;
      };
      const running = (id: string) =>
        eventually(
          `${id} answering`,
          () => whoami(id),
          (body) => body !== undefined,
        );
      const tokens: Record<string, string> = {};
      for (const slug of ['keep', 'other']) {
        tokens[slug] = (await call('/tenants', { method: 'POST', body: { slug, email: `ann@${slug}.test` } })).body.token;
      }
      await running('keep');
      await whoami('keep');
      await whoami('keep');
      await running('other');

      // Passivated, then woken by a request: the count goes on.
      await embedded.sweepNow();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await embedded.sweepNow();
      await eventually(
        'keep passivated',
        () => phaseOf('keep'),
        (phase) => phase === 'Passivated',
      );
      const woken = await running('keep');

      // Killed outright: restarted, and the count goes on.
      process.kill(woken!.pid, 'SIGKILL');
      const restarted = await eventually(
        'keep restarted',
        () => whoami('keep'),
        (body) => body !== undefined && body.pid !== woken!.pid,
      );

      // Assess: one count per answer, from 1, never reset nor shared.
      const counts = seen.get('keep')!;
      expect(counts).toEqual(counts.map((_, index) => index + 1));
      expect(counts.length).toBeGreaterThanOrEqual(5);
      expect(restarted!.visits).toBe(counts.length);
      expect(seen.get('other')).toEqual([1]);
      const keepDir = join(dataDir, 'tenants', 'keep');
      const otherDir = join(dataDir, 'tenants', 'other');
      expect(embedded.tenantData).toEqual({ dir: join(dataDir, 'tenants'), temporary: false });
      for (const dir of [keepDir, otherDir]) expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(JSON.parse(readFileSync(join(keepDir, 'visits.json'), 'utf8'))).toEqual({ visits: counts.length });
      expect(JSON.parse(readFileSync(join(otherDir, 'visits.json'), 'utf8'))).toEqual({ visits: 1 });

      // Deleted: its directory goes, the other tenant's stays.
      expect((await call('/tenants/keep', { method: 'DELETE', token: tokens.keep })).status).toBe(202);
      await eventually(
        'keep deleted',
        () => phaseOf('keep'),
        (phase) => phase === 'Deleted',
      );
      expect(existsSync(keepDir)).toBe(false);
      expect(readdirSync(join(dataDir, 'tenants'))).toEqual(['other']);

      // A directory no tenant stands behind goes at the next sweep.
      mkdirSync(join(dataDir, 'tenants', 'ghost'), { mode: 0o700 });
      const sweep = await embedded.sweepNow();
      expect(sweep.repaired.storage).toBe(1);
      expect(readdirSync(join(dataDir, 'tenants'))).toEqual(['other']);
    } finally {
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('gives each tenant a DATA_DIR of its own, and a tenant’s files never appear in another’s', async () => {
    // Prepare: an application that writes a file named after its tenant in DATA_DIR and answers
    // with what it finds there.
    const tables = await createTestTables();
    const appDir = mkdtempSync(join(tmpdir(), 'dormouse-data-app-'));
    const app = join(appDir, 'app.cjs');
    writeFileSync(
      app,
      `const fs = require('fs');
      fs.writeFileSync(process.env.DATA_DIR + '/' + process.env.TENANT_ID + '.txt', process.env.TENANT_ID);
      require('http').createServer((q, s) => s.end(JSON.stringify({ dataDir: process.env.DATA_DIR, files: fs.readdirSync(process.env.DATA_DIR) })))
        .listen(+process.env.PORT, '127.0.0.1');`,
    );
    const embedded = await startEmbedded(
      { ...embeddedTestEnv(tables, ADMIN), DORMOUSE_TENANT_COMMAND: `'${process.execPath}' '${app}'` },
      { onError: () => {} },
    );
    try {
      const call = apiClient(embedded.apiUrl);
      for (const slug of ['alpha', 'bravo']) await call('/tenants', { method: 'POST', body: { slug, email: `b@${slug}.test` } });

      // Act
      const seen: Record<string, { dataDir: string; files: string[] }> = {};
      for (const slug of ['alpha', 'bravo']) {
        const answer = await eventually(
          `${slug} answering`,
          () => viaGateway(embedded.gatewayUrl, `${slug}.localhost`, '/'),
          (a) => a.status === 200,
        );
        seen[slug] = JSON.parse(answer.text);
      }

      // Assess
      const { dir, temporary } = embedded.tenantData!;
      expect(temporary).toBe(true);
      expect(seen).toEqual({
        alpha: { dataDir: join(dir, 'alpha'), files: ['alpha.txt'] },
        bravo: { dataDir: join(dir, 'bravo'), files: ['bravo.txt'] },
      });
      for (const slug of ['alpha', 'bravo']) expect(statSync(join(dir, slug)).mode & 0o777).toBe(0o700);
      await embedded.stop();
      // In memory, the tenants' data lives as long as the run.
      expect(existsSync(dir)).toBe(false);
    } finally {
      await embedded.stop();
      rmSync(appDir, { recursive: true, force: true });
    }
  }, 60_000);
});
