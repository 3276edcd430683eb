import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer as createNetServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/adapters/local/dynamodb-local.js';
import { apiClient } from '../support/http.js';
import { Cleanup, processGone, waitFor } from '../support/local.js';

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => socket.destroy() && resolve(true));
    socket.once('error', () => resolve(false));
  });
}

function waitForOutput(child: ChildProcess, output: { text: string }, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No ${pattern} in output:\n${output.text}`)), timeoutMs);
    const check = () => {
      if (pattern.test(output.text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`npm start exited early:\n${output.text}`));
    });
    check();
  });
}

function viaGateway(port: number, host: string, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The process group a process belongs to (ps: the same on Linux and macOS). */
function groupOf(pid: number): number {
  return Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' }).trim());
}

/** The node process that runs start.ts in `npm start`'s group, not npm or the shell around it. */
function controlPlaneOf(npm: ChildProcess): number {
  const found = execFileSync('ps', ['-A', '-o', 'pid=,pgid=,command='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(
      ([, pgid, program, ...args]) =>
        Number(pgid) === npm.pid && program?.endsWith('node') && args.includes('shared/adapters/local/start.ts'),
    );
  if (!found) throw new Error(`no control plane in process group ${npm.pid}`);
  return Number(found[0]);
}

/**
 * The watchdog of the control plane that started a tenant: the child of the control plane (the
 * parent of the tenant's group leader, a shell for a command line) that runs the script.
 */
function watchdogOf(tenantPid: number): number {
  const controlPlane = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(groupOf(tenantPid))], { encoding: 'utf8' }).trim());
  const watchdog = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,command='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([, parent, ...command]) => {
      const line = command.join(' ');
      // DynamoDB Local has a watchdog of its own, marked as such.
      return Number(parent) === controlPlane && line.includes('tenant-watchdog.sh') && !line.includes('--dormouse-watchdog=dynamodb-');
    });
  if (!watchdog) throw new Error(`no watchdog under process ${controlPlane}`);
  return Number(watchdog[0]);
}

describe('npm start', () => {
  /** Process groups to kill after the tests whatever happened: npm's and tenants'. */
  const groups = new Cleanup();
  afterAll(() => groups.killAll());

  // Runs of this file keep their records of tenant processes apart from other test files'
  // embedded runs, which would otherwise stop the leftovers these tests leave on purpose.
  const runtimeTmp = mkdtempSync(join(tmpdir(), 'dormouse-npm-start-runs-'));
  afterAll(() => rmSync(runtimeTmp, { recursive: true, force: true }));

  /** `npm start` with its own ports, in a process group of its own, until it prints its banner (or `until`). */
  async function npmStart(env: Record<string, string> = {}, until = /Press Ctrl-C to stop/) {
    const [apiPort, dynamoPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
    const output = { text: '' };
    const started = spawn('npm', ['start'], {
      env: {
        ...process.env,
        TMPDIR: runtimeTmp,
        DORMOUSE_API_PORT: String(apiPort),
        DORMOUSE_GATEWAY_PORT: String(gatewayPort),
        DORMOUSE_DYNAMODB_PORT: String(dynamoPort),
        DORMOUSE_ADMIN_TOKEN: '',
        ...env,
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    groups.group(started.pid);
    started.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    await waitForOutput(started, output, until, 60_000);
    return { child: started, output, call: apiClient(`http://127.0.0.1:${apiPort}`), gatewayPort, dynamoPort };
  }

  /** Signs a tenant up and waits until it answers through the gateway; resolves with its pid. */
  async function runTenant(run: Awaited<ReturnType<typeof npmStart>>, slug: string): Promise<number> {
    expect((await run.call('/tenants', { method: 'POST', body: { slug, email: `${slug}@example.test` } })).status).toBe(202);
    for (let tries = 0; tries < 150; tries++) {
      const answer = await viaGateway(run.gatewayPort, `${slug}.localhost`, '/').catch(() => undefined);
      if (answer?.status === 200) {
        const pid = Number(answer.text);
        groups.group(groupOf(pid));
        return pid;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${slug} never answered:\n${run.output.text}`);
  }

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return !processGone(pid);
    } catch {
      return false;
    }
  };

  /** A tenant that ignores both its stdin closing and SIGTERM, and answers with its pid. */
  const STUBBORN = {
    DORMOUSE_TENANT_COMMAND: `'${process.execPath}' -e "process.on('SIGTERM', () => {}); require('http').createServer((q, s) => s.end(String(process.pid))).listen(+process.env.PORT, '127.0.0.1')"`,
  };

  it('leaves no tenant running when npm start is killed with SIGKILL, even tenants that ignore SIGTERM and their stdin', async () => {
    const run = await npmStart(STUBBORN);
    const pids = [await runTenant(run, 'stubborn-a'), await runTenant(run, 'stubborn-b')];
    // One watchdog for both tenants.
    const watchdog = watchdogOf(pids[0]!);
    groups.group(watchdog);
    expect(watchdogOf(pids[1]!)).toBe(watchdog);

    // Every process of npm start at once, the control plane included: no handler of its own runs.
    const killedAt = Date.now();
    process.kill(-run.child.pid!, 'SIGKILL');
    while ([...pids, watchdog].some(alive) && Date.now() - killedAt < 10_000) await new Promise((resolve) => setTimeout(resolve, 100));

    // Its job done, the watchdog does not stay behind.
    expect(alive(watchdog)).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    // Nor does DynamoDB Local, which runs in a process group of its own with its own watchdog.
    while ((await portAnswers(run.dynamoPort)) && Date.now() - killedAt < 15_000) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await portAnswers(run.dynamoPort)).toBe(false);
  }, 120_000);

  it('takes DynamoDB Local down with the control plane when only the control plane is killed with SIGKILL', async () => {
    const run = await npmStart();
    const controlPlane = controlPlaneOf(run.child);
    expect(await portAnswers(run.dynamoPort)).toBe(true);

    const killedAt = Date.now();
    process.kill(controlPlane, 'SIGKILL');
    while ((await portAnswers(run.dynamoPort)) && Date.now() - killedAt < 15_000) await new Promise((resolve) => setTimeout(resolve, 100));

    expect(await portAnswers(run.dynamoPort)).toBe(false);
  }, 120_000);

  it('finds and stops the tenants a killed run left behind when it starts again', async () => {
    const first = await npmStart(STUBBORN);
    const pid = await runTenant(first, 'leftover');
    // The run's watchdog cannot act (stopped, as on a machine suspended at the wrong moment), so
    // killing npm start leaves the tenant running.
    const watchdog = watchdogOf(pid);
    groups.group(watchdog);
    process.kill(watchdog, 'SIGSTOP');
    process.kill(-first.child.pid!, 'SIGKILL');
    // Time in which anything left of the run would have stopped the tenant, were it able to.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(alive(pid)).toBe(true);

    const second = await npmStart();
    const stopped = alive(pid);
    await ctrlC(second.child);

    expect(stopped).toBe(false);
    expect(alive(watchdog)).toBe(false);
    expect(second.output.text).toContain(`stopped the tenant watchdog that an earlier run left behind (process ${watchdog})`);
    expect(second.output.text).toMatch(/stopped tenant processes that an earlier run left behind: .*leftover \(process group \d+\)/);
    expect(second.output.text).toContain('Stopped. Nothing is left running.');
  }, 180_000);

  it('stops what has started when Ctrl-C comes while it starts, and says so', async () => {
    const run = await npmStart({}, /^Starting Dormouse/m);

    await ctrlC(run.child);

    expect(run.output.text).not.toContain('Dormouse is running');
    expect(run.output.text).toContain('SIGINT: stopping tenants, gateway, API and DynamoDB Local…');
    expect(run.output.text).toContain('Stopped. Nothing is left running.');
    expect(await portAnswers(run.dynamoPort)).toBe(false);
  }, 120_000);

  it('stops at once at a second Ctrl-C while the start hangs, and the watchdog ends DynamoDB Local', async () => {
    const run = await npmStart({}, /^Starting Dormouse/m);
    // DynamoDB Local stopped while it starts: it takes connections and never answers them.
    const jvm = await waitFor('DynamoDB Local to be spawned', () => dynamoDbLocalPidIfAny(run.dynamoPort), 10_000, 5);
    groups.group(jvm);
    process.kill(jvm, 'SIGSTOP');
    process.kill(-run.child.pid!, 'SIGINT');
    await waitForOutput(run.child, run.output, /SIGINT: stopping/, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    // Bounded: without the second Ctrl-C's way out, the run would wait on DynamoDB Local for good.
    await Promise.race([ctrlC(run.child), new Promise((resolve) => setTimeout(resolve, 20_000))]);

    expect(run.output.text).not.toContain('Dormouse is running');
    expect(run.output.text).toContain('Stopped at once, before the start finished: the watchdogs end what it had started.');
    await waitFor('the watchdog to end DynamoDB Local', () => processGone(jvm), 10_000);
  }, 120_000);

  /** The tenant's visit count, once it answers through the gateway. */
  async function visitsOf(run: Awaited<ReturnType<typeof npmStart>>, slug: string): Promise<number> {
    for (let tries = 0; tries < 150; tries++) {
      const answer = await viaGateway(run.gatewayPort, `${slug}.localhost`, '/whoami').catch(() => undefined);
      if (answer?.status === 200) {
        const { pid, visits } = JSON.parse(answer.text) as { pid: number; visits: number };
        groups.group(groupOf(pid));
        return visits;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${slug} never answered:\n${run.output.text}`);
  }

  it('keeps counting a tenant’s visits after npm start is killed with SIGKILL and started again on the same DORMOUSE_DATA_DIR', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dormouse-npm-start-data-'));
    try {
      const first = await npmStart({ DORMOUSE_DATA_DIR: dataDir });
      expect(first.output.text).toContain(`Tenant data  ${join(dataDir, 'tenants', '<slug>')}`);
      expect((await first.call('/tenants', { method: 'POST', body: { slug: 'durable', email: 'd@durable.test' } })).status).toBe(202);
      const before = [await visitsOf(first, 'durable'), await visitsOf(first, 'durable')];
      process.kill(-first.child.pid!, 'SIGKILL');
      while (await portAnswers(first.dynamoPort)) await new Promise((resolve) => setTimeout(resolve, 100));

      const second = await npmStart({ DORMOUSE_DATA_DIR: dataDir });
      const after = await visitsOf(second, 'durable');
      await ctrlC(second.child);

      expect(before).toEqual([1, 2]);
      expect(after).toBe(3);
      expect(JSON.parse(readFileSync(join(dataDir, 'tenants', 'durable', 'visits.json'), 'utf8'))).toEqual({ visits: 3 });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('keeps tenant data in a temporary directory when it runs in memory, and removes it at a clean stop', async () => {
    const run = await npmStart();
    const banner = /Tenant data {2}(\S+)\/<slug> {3}\(each tenant's DATA_DIR; removed when Dormouse stops/.exec(run.output.text);
    expect(banner).not.toBeNull();
    const tenantsDir = banner![1]!;
    expect((await run.call('/tenants', { method: 'POST', body: { slug: 'fleeting', email: 'f@fleeting.test' } })).status).toBe(202);
    expect(await visitsOf(run, 'fleeting')).toBe(1);
    const whileRunning = existsSync(join(tenantsDir, 'fleeting', 'visits.json'));

    await ctrlC(run.child);

    expect(tenantsDir.startsWith(runtimeTmp)).toBe(true);
    expect(whileRunning).toBe(true);
    expect(existsSync(dirname(tenantsDir))).toBe(false);
  }, 120_000);

  it('runs the control plane, serves a tenant through the gateway, and leaves nothing running after Ctrl-C', async () => {
    const apiPort = await freePort();
    const dynamoPort = await freePort();
    const gatewayPort = await freePort();
    const output = { text: '' };
    const child = spawn('npm', ['start'], {
      env: {
        ...process.env,
        DORMOUSE_API_PORT: String(apiPort),
        DORMOUSE_GATEWAY_PORT: String(gatewayPort),
        DORMOUSE_DYNAMODB_PORT: String(dynamoPort),
        DORMOUSE_ADMIN_TOKEN: '',
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    groups.group(child.pid);
    child.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));

    await waitForOutput(child, output, /Press Ctrl-C to stop/, 60_000);
    expect(output.text).toContain(`API          http://127.0.0.1:${apiPort}`);
    const adminToken = /Admin token {2}(\S+) {2}\(generated/.exec(output.text)?.[1];
    expect(adminToken).toBeDefined();

    const call = apiClient(`http://127.0.0.1:${apiPort}`);
    const signup = await call('/tenants', { method: 'POST', body: { slug: 'smoke', email: 'smoke@example.test' } });
    expect(signup.status).toBe(202);
    expect((await call('/tenants', { token: adminToken })).body.items).toHaveLength(1);
    // The tenant runs as a process behind the gateway, as the banner's curl shows.
    let pid: number | undefined;
    for (let tries = 0; pid === undefined && tries < 100; tries++) {
      const answer = await viaGateway(gatewayPort, 'smoke.localhost', '/whoami');
      if (answer.status === 200) pid = (JSON.parse(answer.text) as { pid: number }).pid;
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(pid).toBeDefined();
    await waitForOutput(child, output, /smoke +Running/, 10_000);

    const watchdog = watchdogOf(pid!);
    // Ctrl-C while the control plane cannot answer at once (a busy or starved event loop): nothing
    // around it may take that for a hang and kill it, as tsx's own launcher does after 60 ms.
    const controlPlane = controlPlaneOf(child);
    process.kill(controlPlane, 'SIGSTOP');
    const stopped = ctrlC(child);
    await new Promise((resolve) => setTimeout(resolve, 500));
    process.kill(controlPlane, 'SIGCONT');
    await stopped;
    expect(output.text).toContain('Stopped. Nothing is left running.');
    expect(await portAnswers(apiPort)).toBe(false);
    expect(await portAnswers(gatewayPort)).toBe(false);
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(() => process.kill(watchdog, 0)).toThrow();
    expect(await portAnswers(dynamoPort)).toBe(false);
  }, 90_000);
});

/**
 * Ctrl-C to the run's whole process group. Resolves once all it printed has been read: its stdout
 * and stderr close once every process that held them, npm's children included, is gone.
 */
async function ctrlC(child: ChildProcess): Promise<void> {
  const closed = [child.stdout, child.stderr].map(
    (stream) => new Promise<void>((resolve) => (!stream || stream.closed ? resolve() : stream.once('close', () => resolve()))),
  );
  process.kill(-child.pid!, 'SIGINT');
  await Promise.all(closed);
}

const START_SCRIPT = fileURLToPath(new URL('../../shared/adapters/local/start.ts', import.meta.url));
// As `npm start` runs it: tsx registered in the process itself, so the script gets Ctrl-C itself.
const TSX_LOADER = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

interface Started {
  child: ChildProcess;
  stdout: { text: string };
  stderr: { text: string };
  exited: Promise<number | null>;
}

/** The start script `npm start` runs, from `cwd`, as a group of its own to clean up. */
function startScript(env: Record<string, string>, cwd: string): Started {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, START_SCRIPT], {
    cwd,
    env: { ...process.env, DORMOUSE_ADMIN_TOKEN: '', DORMOUSE_API_PORT: '0', DORMOUSE_GATEWAY_PORT: '0', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout = { text: '' };
  const stderr = { text: '' };
  child.stdout?.on('data', (chunk: Buffer) => (stdout.text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr.text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  started.group(child.pid);
  return { child, stdout, stderr, exited };
}
const started = new Cleanup();

/** Fails the start within `ms`: a start that cannot succeed must not hang. */
async function exitWithin(run: Started, ms: number): Promise<number | null> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms));
  const result = await Promise.race([run.exited, timeout]);
  if (result === 'timeout') throw new Error(`still running after ${ms} ms:\n${run.stdout.text}\n${run.stderr.text}`);
  return result;
}

/** The JVM of the DynamoDB Local listening on `port`, from the process table. */
function dynamoDbLocalPid(port: number): number {
  const pid = dynamoDbLocalPidIfAny(port);
  if (pid === undefined) throw new Error(`No DynamoDB Local on port ${port}`);
  return pid;
}

function dynamoDbLocalPidIfAny(port: number): number | undefined {
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // Gone meanwhile.
    }
    if (args.some((arg) => arg.endsWith('DynamoDBLocal.jar')) && args[args.indexOf('-port') + 1] === String(port)) return Number(entry);
  }
  return undefined;
}

async function occupy(port: number, host?: string): Promise<Server> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

describe('npm start, as a first-time user meets it', () => {
  const dirs: string[] = [];
  afterAll(() => {
    started.killAll();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'dormouse-start-'));
    dirs.push(dir);
    return dir;
  };

  it('keeps data in DORMOUSE_DATA_DIR relative to the working directory, warns about a misspelled variable, and restarts a killed DynamoDB Local without losing data', async () => {
    const cwd = tempDir();
    const dynamoPort = await freePort();
    const run = startScript(
      { DORMOUSE_DATA_DIR: '.dormouse', DORMOUSE_DYNAMODB_PORT: String(dynamoPort), DORMOUSE_SWEEP_SECOND: '5' },
      cwd,
    );
    await waitForOutput(run.child, run.stdout, /Press Ctrl-C to stop/, 60_000);
    expect(run.stdout.text).toContain(`data in ${join(cwd, '.dormouse')}`);
    expect(run.stderr.text).toContain(
      'Dormouse: DORMOUSE_SWEEP_SECOND is not a setting of embedded mode and is ignored; did you mean DORMOUSE_SWEEP_SECONDS?',
    );
    const apiUrl = /API {10}(\S+)/.exec(run.stdout.text)![1]!;
    const call = apiClient(apiUrl);
    expect((await call('/tenants', { method: 'POST', body: { slug: 'kept', email: 'kept@example.test' } })).status).toBe(202);
    expect(readdirSync(join(cwd, '.dormouse')).some((name) => name.endsWith('.db'))).toBe(true);
    // Killed while no write is under way: what was written before must be there after the restart.
    await waitFor('the tenant running', async () => (await call('/tenants/kept')).body.phase === 'Running', 30_000, 200);

    process.kill(dynamoDbLocalPid(dynamoPort), 'SIGKILL');
    // Health says the store is down while it is, and ok once it is back.
    const down = await waitFor(
      'an unhealthy answer',
      async () => {
        const answer = await call('/healthz');
        return answer.status === 503 && answer;
      },
      10_000,
      50,
    );
    expect(down.body).toEqual({ status: 'unavailable', down: ['store'] });
    await waitFor('a healthy answer', async () => (await call('/healthz')).status === 200, 30_000, 200);
    expect((await call('/tenants/kept')).body).toMatchObject({ id: 'kept' });

    const stderrLines = run.stderr.text.trim().split('\n');
    expect(stderrLines.filter((line) => /DynamoDB Local stopped/.test(line))).toEqual([
      `Dormouse: DynamoDB Local stopped (killed by SIGKILL); restarting it with the data in ${join(cwd, '.dormouse')}.`,
    ]);
    // No stack traces, and no line per failed call while the store was away.
    expect(run.stderr.text).not.toMatch(/^\s+at /m);
    expect(stderrLines.length, run.stderr.text).toBeLessThanOrEqual(4);
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await exitWithin(run, 20_000)).toBe(0);
  }, 120_000);

  it('exits non-zero with one line when DynamoDB Local dies with its data in memory', async () => {
    const dynamoPort = await freePort();
    const run = startScript({ DORMOUSE_DYNAMODB_PORT: String(dynamoPort) }, tempDir());
    await waitForOutput(run.child, run.stdout, /Press Ctrl-C to stop/, 60_000);
    process.kill(dynamoDbLocalPid(dynamoPort), 'SIGKILL');
    expect(await exitWithin(run, 20_000)).toBe(1);
    expect(run.stderr.text.trim()).toBe(
      'Dormouse is stopping: DynamoDB Local stopped (killed by SIGKILL) and its data was in memory. Set DORMOUSE_DATA_DIR to keep data across restarts.',
    );
  }, 90_000);

  it.each([
    ['an unusable data directory', { DORMOUSE_DATA_DIR: '/proc/nope' }, /^DORMOUSE_DATA_DIR: cannot keep data in \/proc\/nope \(ENOENT\)/],
    ['a sweep interval under a second', { DORMOUSE_SWEEP_SECONDS: '0.001' }, /DORMOUSE_SWEEP_SECONDS: must be at least 1 second/],
    [
      'more routing slots than an ALB has target groups, as on AWS',
      { DORMOUSE_MAX_ACTIVE_TENANTS: '100' },
      /DORMOUSE_MAX_ACTIVE_TENANTS: must stay under the ALB hard limit of 100 target groups/,
    ],
  ])(
    'fails at once, naming the variable, on %s',
    async (_, env, message) => {
      const run = startScript(env, tempDir());
      expect(await exitWithin(run, 15_000)).toBe(1);
      expect(run.stderr.text).toMatch(message);
      expect(run.stderr.text).not.toMatch(/^\s+at /m);
    },
    30_000,
  );

  it('fails at once on a bad plans file, naming each plan and field, with nothing left running', async () => {
    const dir = tempDir();
    const plans = [
      { name: 'trial', cpu: 300, trialDays: 14, public: true },
      { name: 'pro', memory: 4096, capacity: 'reserved' },
    ];
    const run = startScript({ DORMOUSE_PLANS: JSON.stringify(plans), DORMOUSE_DATA_DIR: '.dormouse' }, dir);

    expect(await exitWithin(run, 15_000)).toBe(1);
    expect(run.stderr.text.trim()).toBe(
      [
        'Invalid configuration:',
        '  DORMOUSE_PLANS: plan "trial", cpu: must be one of 256, 512, 1024, 2048, 4096, 8192, 16384',
        '  DORMOUSE_PLANS: plan "pro", capacity: must be one of: spot, on-demand',
      ].join('\n'),
    );
    // Stopped before anything started: not even the data directory was made.
    expect(existsSync(join(dir, '.dormouse'))).toBe(false);
  }, 30_000);

  it.each(['DORMOUSE_API_PORT', 'DORMOUSE_GATEWAY_PORT', 'DORMOUSE_DYNAMODB_PORT'])(
    'says in one line that the port of %s is in use and exits non-zero',
    async (variable) => {
      const port = await freePort();
      const taken = await occupy(port, '127.0.0.1');
      try {
        const run = startScript({ [variable]: String(port) }, tempDir());
        expect(await exitWithin(run, 60_000)).toBe(1);
        expect(run.stderr.text.trim()).toBe(
          `${variable}: port ${port} is already in use by another program; stop it or choose another port.`,
        );
      } finally {
        taken.close();
      }
    },
    90_000,
  );

  it('says in one line that nothing answers at DORMOUSE_DYNAMODB_ENDPOINT and exits non-zero', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const run = startScript({ DORMOUSE_DYNAMODB_ENDPOINT: endpoint }, tempDir());
    expect(await exitWithin(run, 30_000)).toBe(1);
    expect(run.stderr.text.trim()).toMatch(
      new RegExp(
        `^DORMOUSE_DYNAMODB_ENDPOINT: no DynamoDB answers at ${endpoint} \\(ECONNREFUSED\\); start it there, or unset the variable`,
      ),
    );
    expect(run.stderr.text.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
