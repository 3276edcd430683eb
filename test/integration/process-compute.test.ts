import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ProcessCompute, type ProcessComputeOptions } from '../../shared/adapters/local/process-compute.js';
import type { RunTaskRequest } from '../../shared/ports/compute.js';
import { liveMembers, processStartTime } from '../../shared/adapters/local/tenant-processes.js';
import { Cleanup, get, processGone, recordEvents, waitFor } from '../support/local.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

const node = process.execPath;
const computes: ProcessCompute[] = [];
/** Every task's process group a test saw, killed in afterAll whatever happened, so a failure leaves nothing running. */
const groups = new Cleanup();

function newCompute(options: ProcessComputeOptions = {}) {
  const compute = new ProcessCompute({ stopGraceMs: 1_000, ...options });
  computes.push(compute);
  const recorder = recordEvents(compute);
  compute.onTaskEvent(({ task }) => {
    const pid = compute.pidOf(task.arn);
    groups.group(pid);
  });
  return { compute, ...recorder };
}

function request(tenantId: string, clientToken = `${tenantId}-g1-r1`): RunTaskRequest {
  return { tenantId, host: `${tenantId}.localhost`, clientToken, capacityProvider: 'FARGATE_SPOT', ...TRIAL_LAUNCH };
}

afterEach(async () => {
  await Promise.all(computes.splice(0).map((compute) => compute.stopAll()));
});

afterAll(() => groups.killAll());

describe('ProcessCompute', () => {
  it('runs the demo app with its DATA_DIR, confined by Node to that directory, and counts visits there', async () => {
    // Prepare
    const { compute, until } = newCompute();
    const dataDir = mkdtempSync(join(tmpdir(), 'dormouse-demo-data-'));

    // Act
    const result = await compute.runTask({ ...request('acme'), volume: dataDir });
    if (!result.started) throw new Error('not started');
    await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');
    const running = (await compute.tenantTasks('acme', [result.task.arn]))[0]!;
    const first = JSON.parse((await get(running.ip!, '/whoami')).body);
    const second = JSON.parse((await get(running.ip!, '/whoami')).body);

    // Assess: the count is in DATA_DIR, and the process may write nowhere else.
    expect([first.visits, second.visits]).toEqual([1, 2]);
    expect(JSON.parse(readFileSync(join(dataDir, 'visits.json'), 'utf8'))).toEqual({ visits: 2 });
    const argv = readFileSync(`/proc/${compute.pidOf(running.arn)}/cmdline`, 'utf8').split('\0');
    expect(argv).toContain(`--allow-fs-write=${dataDir}`);
    expect(argv.filter((arg) => arg.startsWith('--allow-fs-write='))).toHaveLength(1);
  });

  it('starts the demo app as a task that goes PROVISIONING, PENDING, RUNNING with an address, and answers as its tenant', async () => {
    // Prepare
    const { compute, of, until } = newCompute();

    // Act
    const result = await compute.runTask(request('acme'));

    // Assess
    expect(result.started).toBe(true);
    if (!result.started) return;
    expect(result.task).toMatchObject({
      tenantId: 'acme',
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      capacityProvider: 'FARGATE_SPOT',
    });
    expect(result.task.arn).toBe('local:task/acme/1');
    await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');
    const events = of(result.task.arn);
    expect(events.map((event) => event.task.lastStatus)).toEqual(['PROVISIONING', 'PENDING', 'RUNNING']);
    expect(events.map((event) => event.version)).toEqual([1, 2, 3]);
    const running = events[2]!.task;
    expect(running.ip).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(running.startedAt).toBeDefined();
    expect(running.desiredStatus).toBe('RUNNING');

    const whoami = await get(running.ip!, '/whoami');
    expect(whoami.status).toBe(200);
    expect(JSON.parse(whoami.body)).toEqual({ tenant: 'acme', host: 'acme.localhost', pid: expect.any(Number), visits: 1 });
    // The application leads the task's process group itself: no process runs in between.
    expect(compute.pidOf(running.arn)).toBe(JSON.parse(whoami.body).pid);
    expect(await liveMembers(compute.pidOf(running.arn)!)).toContain(JSON.parse(whoami.body).pid);
    expect(await compute.tenantTasks('acme', [])).toEqual([running]);
    expect(await compute.allTenantTasks()).toEqual([running]);
  });

  it("passes the plan's and tenant's environment to the process, under the platform's own variables", async () => {
    // Prepare
    const { compute, until } = newCompute();

    // Act
    const result = await compute.runTask({ ...request('acme'), environment: { GREETING: 'hello', TENANT_ID: 'someone-else', PORT: '1' } });
    if (!result.started) throw new Error('not started');
    const { task: running } = await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');

    // Assess
    const environ = readFileSync(`/proc/${compute.pidOf(running.arn)}/environ`, 'utf8').split('\0');
    expect(environ).toContain('GREETING=hello');
    expect(environ).toContain('TENANT_ID=acme');
    expect(environ).toContain(`PORT=${running.ip!.split(':')[1]}`);
  });

  it('answers a repeated client token with the task it already started, running one process', async () => {
    const { compute, until } = newCompute();

    const [first, second] = await Promise.all([compute.runTask(request('acme', 'tok-1')), compute.runTask(request('acme', 'tok-1'))]);
    const third = await compute.runTask(request('acme', 'tok-1'));

    expect(first.started && second.started && third.started).toBe(true);
    if (!first.started || !second.started || !third.started) return;
    expect(second.task.arn).toBe(first.task.arn);
    expect(third.task.arn).toBe(first.task.arn);
    await until(first.task.arn, (task) => task.lastStatus === 'RUNNING');
    expect(await compute.tenantTasks('acme', [])).toHaveLength(1);
  });

  it('keeps the capacity provider it was asked for', async () => {
    const { compute } = newCompute();

    const result = await compute.runTask({ ...request('acme'), capacityProvider: 'FARGATE' });

    expect(result.started && result.task.capacityProvider).toBe('FARGATE');
  });

  it('stops a task on request: desired STOPPED first, then STOPPED UserInitiated once the process is gone', async () => {
    const { compute, of, until } = newCompute();
    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');
    const pid = compute.pidOf(result.task.arn)!;

    await compute.stopTask(result.task.arn, 'Dormouse: tenant passivated');
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');

    expect(stopped.task).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'UserInitiated',
      stoppedReason: 'Dormouse: tenant passivated',
    });
    expect(stopped.task.containerReason).toBeUndefined();
    expect(of(result.task.arn).map((event) => [event.task.lastStatus, event.task.desiredStatus, event.version])).toEqual([
      ['PROVISIONING', 'RUNNING', 1],
      ['PENDING', 'RUNNING', 2],
      ['RUNNING', 'RUNNING', 3],
      ['STOPPING', 'STOPPED', 4],
      ['STOPPED', 'STOPPED', 5],
    ]);
    expect(() => process.kill(pid, 0)).toThrow();
    // Gone from the tenant's live tasks, still there for whoever knew its ARN.
    expect(await compute.tenantTasks('acme', [])).toEqual([]);
    expect(await compute.tenantTasks('acme', [result.task.arn])).toEqual([stopped.task]);
    expect(await compute.allTenantTasks()).toEqual([]);
    // Stopping again, or an unknown task, is a no-op.
    await compute.stopTask(result.task.arn, 'again');
    await compute.stopTask('local:task/nobody/1', 'nothing');
    expect(of(result.task.arn)).toHaveLength(5);
  });

  it('kills a task that ignores SIGTERM once the grace period is over', async () => {
    const stubborn = `process.on('SIGTERM', () => {}); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;
    const { compute, until } = newCompute({ command: [node, '-e', stubborn], stopGraceMs: 300 });
    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');
    const pid = compute.pidOf(result.task.arn)!;

    const asked = Date.now();
    await compute.stopTask(result.task.arn, 'Dormouse: tenant deleted');
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');

    expect(Date.now() - asked).toBeGreaterThanOrEqual(250);
    expect(stopped.task.stopCode).toBe('UserInitiated');
    expect(processGone(pid)).toBe(true);
  });

  it('reports a process that exits by itself as EssentialContainerExited, with its exit code and last stderr line', async () => {
    const { compute, of, until } = newCompute({
      command: [node, '-e', "console.error('starting'); console.error('boom'); process.exit(3)"],
    });

    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');

    expect(stopped.task).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      exitCode: 3,
      containerReason: 'boom',
    });
    expect(of(result.task.arn).map((event) => event.version)).toEqual(of(result.task.arn).map((_, index) => index + 1));
    expect(await compute.tenantTasks('acme', [])).toEqual([]);
  });

  it('reports a running task killed from outside as EssentialContainerExited, naming the signal instead of an exit code', async () => {
    const { compute, until } = newCompute();
    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');

    process.kill(compute.pidOf(result.task.arn)!, 'SIGKILL');
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');

    expect(stopped.task).toMatchObject({ stopCode: 'EssentialContainerExited', containerReason: 'The process was killed by SIGKILL' });
    // 137 would read as "out of memory" to the reconciler's explanation of the stop.
    expect(stopped.task.exitCode).toBeUndefined();
  });

  it('kills and stops a task that never listens on its port, after the start timeout', async () => {
    const { compute, until } = newCompute({
      command: [node, '-e', "console.error('waiting for a database'); setInterval(() => {}, 1000)"],
      startTimeoutMs: 1_500,
    });

    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    const pending = await until(result.task.arn, (task) => task.lastStatus === 'PENDING');
    const pid = compute.pidOf(result.task.arn)!;
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED', 5_000);

    expect(pending.task.ip).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(stopped.task).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'The application did not start listening within 1.5 s',
      containerReason: 'waiting for a database',
    });
    expect(processGone(pid)).toBe(true);
  });

  it('stops a command that cannot be started at all', async () => {
    const { compute, until } = newCompute({ command: ['/nonexistent/dormouse-tenant-app'] });

    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    const stopped = await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');

    expect(stopped.task.stopCode).toBe('TaskFailedToStart');
    expect(stopped.task.stoppedReason).toMatch(/Could not start \/nonexistent\/dormouse-tenant-app: .*ENOENT/);
  });

  it('gives each tenant its own process, port and address', async () => {
    const { compute, until } = newCompute();

    const [acme, globex] = await Promise.all([compute.runTask(request('acme')), compute.runTask(request('globex'))]);
    if (!acme.started || !globex.started) throw new Error('not started');
    const [a, g] = await Promise.all([
      until(acme.task.arn, (task) => task.lastStatus === 'RUNNING'),
      until(globex.task.arn, (task) => task.lastStatus === 'RUNNING'),
    ]);

    expect(a.task.ip).not.toBe(g.task.ip);
    expect(JSON.parse((await get(a.task.ip!, '/whoami')).body).tenant).toBe('acme');
    expect(JSON.parse((await get(g.task.ip!, '/whoami')).body).tenant).toBe('globex');
    expect((await compute.tenantTasks('acme', [])).map((task) => task.arn)).toEqual([acme.task.arn]);
  });

  it('does not give a task the control plane environment, only PATH, PORT, TENANT_ID, TENANT_HOST and what it is configured with', async () => {
    const dump = `require('node:http').createServer((q, s) => s.end(JSON.stringify(process.env))).listen(Number(process.env.PORT), '127.0.0.1')`;
    process.env.DORMOUSE_TEST_SECRET = 'do-not-leak';
    const { compute, until } = newCompute({ command: [node, '-e', dump], env: { GREETING: 'hello' } });
    try {
      const result = await compute.runTask(request('acme'));
      if (!result.started) throw new Error('not started');
      const running = await until(result.task.arn, (task) => task.lastStatus === 'RUNNING');

      const env = JSON.parse((await get(running.task.ip!, '/')).body) as Record<string, string>;

      expect(env).toMatchObject({
        PORT: running.task.ip!.split(':')[1],
        TENANT_ID: 'acme',
        TENANT_HOST: 'acme.localhost',
        GREETING: 'hello',
      });
      expect(env.DORMOUSE_TEST_SECRET).toBeUndefined();
      expect(env.NODE_OPTIONS).toBeUndefined();
    } finally {
      delete process.env.DORMOUSE_TEST_SECRET;
    }
  });

  it('stopAll stops every task, waits for every process, and refuses new tasks', async () => {
    const { compute, until } = newCompute();
    const started = await Promise.all(['acme', 'globex', 'initech'].map((tenant) => compute.runTask(request(tenant))));
    const arns = started.map((result) => (result.started ? result.task.arn : ''));
    await Promise.all(arns.map((arn) => until(arn, (task) => task.lastStatus === 'RUNNING')));
    const running = arns.map((arn) => compute.pidOf(arn)!);

    await compute.stopAll();

    for (const pid of running) expect(processGone(pid)).toBe(true);
    expect(await compute.allTenantTasks()).toEqual([]);
    for (const arn of arns) {
      const [task] = await compute.tenantTasks(arn.split('/')[1]!, [arn]);
      expect(task?.lastStatus).toBe('STOPPED');
    }
    expect(await compute.runTask(request('late'))).toEqual({
      started: false,
      capacityUnavailable: false,
      reason: 'the local compute is shutting down',
    });
  });

  it('stopAll also stops a task that is still starting', async () => {
    const { compute } = newCompute();

    const result = await compute.runTask(request('acme'));
    await compute.stopAll();

    if (!result.started) throw new Error('not started');
    const [task] = await compute.tenantTasks('acme', [result.task.arn]);
    expect(task?.lastStatus).toBe('STOPPED');
  });

  it('forgets STOPPED tasks after the retention period', async () => {
    const { compute, until } = newCompute({ command: [node, '-e', 'process.exit(1)'], stoppedRetentionMs: 60_000 });
    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    await until(result.task.arn, (task) => task.lastStatus === 'STOPPED');
    expect(await compute.tenantTasks('acme', [result.task.arn])).toHaveLength(1);

    // Retention is measured on the wall clock: move only Date past it, not the timers.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 60_001);

      expect(await compute.tenantTasks('acme', [result.task.arn])).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('ProcessCompute when the control plane dies', () => {
  const fixture = fileURLToPath(new URL('../support/fixtures/compute-parent.ts', import.meta.url));
  let parent: ChildProcess | undefined;
  const leftovers = new Cleanup();
  let fixtureOutput = () => '';

  afterEach(() => {
    leftovers.killAll();
    parent = undefined;
  });

  /** Starts the fixture control plane; resolves with its tenant's pid and process group, and its watchdog's pid, once it runs. */
  async function startParent(
    mode: 'exit' | 'hang' | 'stubborn' | 'stop',
    runtimeDir?: string,
  ): Promise<{ pid: number; group: number; watchdog: number }> {
    parent = spawn(node, ['--import', 'tsx', fixture, mode, ...(runtimeDir ? [runtimeDir] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    leftovers.process(parent.pid);
    let output = '';
    parent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    parent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const line = await waitFor(`the fixture to report its tenant (output so far: ${output})`, () => /\{.*\}\n/.exec(output)?.[0], 20_000);
    fixtureOutput = () => output;
    const reported = JSON.parse(line) as { pid: number; group: number; watchdog: number };
    leftovers.group(reported.group);
    leftovers.group(reported.watchdog);
    return reported;
  }

  it('kills its tenant processes when it exits without stopping them', async () => {
    const { pid } = await startParent('exit');

    await waitFor('the tenant process to be gone', () => processGone(pid), 5_000);

    expect(processGone(pid)).toBe(true);
  });

  it('leaves no tenant process behind even when it is killed with SIGKILL', async () => {
    const { pid } = await startParent('hang');
    expect(processGone(pid)).toBe(false);

    parent!.kill('SIGKILL');
    await waitFor('the tenant process to be gone', () => processGone(pid), 5_000);

    expect(processGone(pid)).toBe(true);
  });

  it('leaves no tenant behind when killed with SIGKILL, even one that ignores its stdin and SIGTERM', async () => {
    const { pid, group, watchdog } = await startParent('stubborn', mkdtempSync(join(tmpdir(), 'dormouse-runtime-')));
    expect(processGone(pid)).toBe(false);

    const killedAt = Date.now();
    parent!.kill('SIGKILL');
    await waitFor('the stubborn tenant to be gone', () => processGone(pid), 5_000);

    expect(Date.now() - killedAt).toBeLessThan(4_000);
    expect(processGone(group)).toBe(true);
    // Its job done, the watchdog does not stay behind either.
    await waitFor('the watchdog to be gone', () => processGone(watchdog), 2_000);
  });

  it('ends its watchdog and removes its record on a clean stop, even when nothing else keeps it running', async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
    const { pid, watchdog } = await startParent('stop', runtimeDir);

    const code = parent!.exitCode ?? (await new Promise<number | null>((resolve) => parent!.once('exit', (exitCode) => resolve(exitCode))));

    expect(fixtureOutput()).toContain('stopped\n');
    expect(code).toBe(0);
    expect(processGone(pid)).toBe(true);
    expect(processGone(watchdog)).toBe(true);
    expect(readdirSync(runtimeDir)).toEqual([]);
  });

  it('finds the tenant processes a killed run left behind and stops them at the next start', async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
    const { pid, group, watchdog } = await startParent('stubborn', runtimeDir);
    // A watchdog that cannot act (stopped, as by a suspended machine) leaves the tenant running.
    process.kill(watchdog, 'SIGSTOP');
    parent!.kill('SIGKILL');
    await waitFor('the control plane to be gone', () => processGone(parent!.pid!), 5_000);
    // Nothing is left to stop it: after a while the tenant still runs.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(processGone(pid)).toBe(false);

    const next = new ProcessCompute({ runtimeDir, stopGraceMs: 300, logger: { warn: () => {} } });
    const report = await next.reapLeftovers();

    expect(report.stopped).toEqual([expect.objectContaining({ tenantId: 'orphan', pgid: group })]);
    expect(report.unverified).toEqual([]);
    expect(processGone(pid)).toBe(true);
    expect(processGone(group)).toBe(true);
    expect(report.watchdogs).toEqual([watchdog]);
    expect(processGone(watchdog)).toBe(true);
    expect(readdirSync(runtimeDir)).toEqual([]);
  });

  it('never signals a recorded process group that now belongs to another program', async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
    // An unrelated program that leads a process group, as one that reused a recorded pid would.
    const unrelated = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    leftovers.group(unrelated.pid);
    // A record of a run whose control plane is gone (no process has pid 2^22 + 1 on Linux or macOS).
    // Recorded with another start time: the process that had this pid then was another one.
    const record = {
      tenantId: 'acme',
      taskArn: 'local:task/acme/1',
      pgid: unrelated.pid,
      startTime: '1',
      startedAt: new Date().toISOString(),
    };
    const watchdog = { pid: unrelated.pid, startTime: processStartTime(unrelated.pid!) };
    writeFileSync(join(runtimeDir, 'run-4194305-abcdef.json'), JSON.stringify({ watchdog, groups: [record] }));

    const report = await new ProcessCompute({ runtimeDir, logger: { warn: () => {} } }).reapLeftovers();

    expect(report).toEqual({ stopped: [], unverified: [] });
    expect(processGone(unrelated.pid!)).toBe(false);
    expect(readdirSync(runtimeDir)).toEqual([]);
  });

  it('leaves the records of a run that is still alive alone', async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
    const { pid } = await startParent('stubborn', runtimeDir);

    const report = await new ProcessCompute({ runtimeDir, logger: { warn: () => {} } }).reapLeftovers();

    expect(report).toEqual({ stopped: [], unverified: [] });
    expect(processGone(pid)).toBe(false);
    expect(readdirSync(runtimeDir)).toHaveLength(1);
  });
});

describe('ProcessCompute stillRunning', () => {
  it('names no process once stopAll has resolved, and the task group while it runs', async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
    const stubborn = `process.on('SIGTERM', () => {}); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;
    const compute = new ProcessCompute({ command: [node, '-e', stubborn], stopGraceMs: 300, runtimeDir });
    const recorder = recordEvents(compute);
    const result = await compute.runTask(request('acme'));
    if (!result.started) throw new Error('not started');
    await recorder.until(result.task.arn, (task) => task.lastStatus === 'RUNNING');
    const group = compute.pidOf(result.task.arn)!;
    groups.group(group);

    const during = await compute.stillRunning();
    await compute.stopAll();
    const after = await compute.stillRunning();

    expect(during).toEqual([expect.objectContaining({ tenantId: 'acme', pgid: group, taskArn: result.task.arn })]);
    expect(after).toEqual([]);
    expect(readdirSync(runtimeDir)).toEqual([]);
  });
});

describe('ProcessCompute watchdog', () => {
  /** This process's children whose command line runs the watchdog script. */
  function watchdogChildren(): number[] {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          return parent === process.pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('tenant-watchdog.sh');
        } catch {
          return false;
        }
      })
      .map(Number);
  }

  it.runIf(process.platform === 'linux')(
    'runs one watchdog for all its tasks, in a process group of its own, and none once stopAll has resolved',
    async () => {
      const runtimeDir = mkdtempSync(join(tmpdir(), 'dormouse-runtime-'));
      const { compute, until } = newCompute({ runtimeDir });
      expect(compute.watchdogPid()).toBeUndefined();
      const started = await Promise.all(['acme', 'globex', 'initech'].map((tenant) => compute.runTask(request(tenant))));
      await Promise.all(started.map((result) => until(result.started ? result.task.arn : '', (task) => task.lastStatus === 'RUNNING')));
      const watchdog = compute.watchdogPid()!;
      groups.group(watchdog);

      const during = watchdogChildren();
      const ownGroup = (await liveMembers(watchdog)).includes(watchdog);
      const recorded = JSON.parse(readFileSync(join(runtimeDir, readdirSync(runtimeDir)[0]!), 'utf8')) as {
        watchdog: { pid: number };
        groups: unknown[];
      };
      await compute.stopAll();

      expect(during).toEqual([watchdog]);
      expect(ownGroup).toBe(true);
      expect(recorded.watchdog.pid).toBe(watchdog);
      expect(recorded.groups).toHaveLength(3);
      expect(processGone(watchdog)).toBe(true);
      expect(compute.watchdogPid()).toBeUndefined();
      expect(readdirSync(runtimeDir)).toEqual([]);
    },
  );
});
