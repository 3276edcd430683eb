import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/adapters/local/dynamodb-local.js';
import { apiClient } from '../support/http.js';
import { processGone } from '../support/local.js';

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

/**
 * The watchdog of the control plane that started a tenant: the child of the control plane (the
 * parent of the tenant's group leader, a shell for a command line) that runs the script.
 */
function watchdogOf(tenantPid: number): number {
  const controlPlane = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(groupOf(tenantPid))], { encoding: 'utf8' }).trim());
  const watchdog = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,command='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([, parent, ...command]) => Number(parent) === controlPlane && command.join(' ').includes('tenant-watchdog.sh'));
  if (!watchdog) throw new Error(`no watchdog under process ${controlPlane}`);
  return Number(watchdog[0]);
}

describe('npm start', () => {
  let child: ChildProcess | undefined;
  /** Process groups to kill after the tests whatever happened: npm's and tenants'. */
  const groups = new Set<number>();
  afterAll(() => {
    // Clean up even when a step failed: the whole process group, as Ctrl-C would.
    for (const group of [child?.pid, ...groups]) {
      try {
        if (group) process.kill(-group, 'SIGCONT');
        if (group) process.kill(-group, 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone, which is what the test wants.
      }
    }
  });

  /** `npm start` with its own ports, in a process group of its own, until it prints its banner. */
  async function npmStart(env: Record<string, string> = {}) {
    const [apiPort, dynamoPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
    const output = { text: '' };
    const started = spawn('npm', ['start'], {
      env: {
        ...process.env,
        DORMOUSE_API_PORT: String(apiPort),
        DORMOUSE_GATEWAY_PORT: String(gatewayPort),
        DORMOUSE_DYNAMODB_PORT: String(dynamoPort),
        DORMOUSE_ADMIN_TOKEN: '',
        ...env,
      },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    groups.add(started.pid!);
    started.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    await waitForOutput(started, output, /Press Ctrl-C to stop/, 60_000);
    return { child: started, output, call: apiClient(`http://127.0.0.1:${apiPort}`), gatewayPort };
  }

  /** Signs a tenant up and waits until it answers through the gateway; resolves with its pid. */
  async function runTenant(run: Awaited<ReturnType<typeof npmStart>>, slug: string): Promise<number> {
    expect((await run.call('/tenants', { method: 'POST', body: { slug, email: `${slug}@example.test` } })).status).toBe(202);
    for (let tries = 0; tries < 150; tries++) {
      const answer = await viaGateway(run.gatewayPort, `${slug}.localhost`, '/').catch(() => undefined);
      if (answer?.status === 200) {
        const pid = Number(answer.text);
        groups.add(groupOf(pid));
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
    groups.add(watchdog);
    expect(watchdogOf(pids[1]!)).toBe(watchdog);

    // Every process of npm start at once, the control plane included: no handler of its own runs.
    const killedAt = Date.now();
    process.kill(-run.child.pid!, 'SIGKILL');
    while ([...pids, watchdog].some(alive) && Date.now() - killedAt < 10_000) await new Promise((resolve) => setTimeout(resolve, 100));

    // Its job done, the watchdog does not stay behind.
    expect(alive(watchdog)).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
  }, 120_000);

  it('finds and stops the tenants a killed run left behind when it starts again', async () => {
    const first = await npmStart(STUBBORN);
    const pid = await runTenant(first, 'leftover');
    // The run's watchdog cannot act (stopped, as on a machine suspended at the wrong moment), so
    // killing npm start leaves the tenant running.
    const watchdog = watchdogOf(pid);
    groups.add(watchdog);
    process.kill(watchdog, 'SIGSTOP');
    process.kill(-first.child.pid!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(alive(pid)).toBe(true);

    const second = await npmStart();
    const stopped = alive(pid);
    const allClosed = new Promise<void>((resolve) => second.child.stdout?.once('close', () => resolve()));
    process.kill(-second.child.pid!, 'SIGINT');
    await allClosed;

    expect(stopped).toBe(false);
    expect(alive(watchdog)).toBe(false);
    expect(second.output.text).toContain(`stopped the tenant watchdog that an earlier run left behind (process ${watchdog})`);
    expect(second.output.text).toMatch(/stopped tenant processes that an earlier run left behind: .*leftover \(process group \d+\)/);
    expect(second.output.text).toContain('Stopped. Nothing is left running.');
  }, 180_000);

  it('runs the control plane, serves a tenant through the gateway, and leaves nothing running after Ctrl-C', async () => {
    const apiPort = await freePort();
    const dynamoPort = await freePort();
    const gatewayPort = await freePort();
    const output = { text: '' };
    child = spawn('npm', ['start'], {
      env: { ...process.env, DORMOUSE_API_PORT: String(apiPort), DORMOUSE_GATEWAY_PORT: String(gatewayPort), DORMOUSE_DYNAMODB_PORT: String(dynamoPort), DORMOUSE_ADMIN_TOKEN: '' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
    // The pipe closes once every process that held it, npm's children included, is gone.
    const allClosed = new Promise<void>((resolve) => child?.stdout?.once('close', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    await allClosed;
    expect(output.text).toContain('Stopped. Nothing is left running.');
    expect(await portAnswers(apiPort)).toBe(false);
    expect(await portAnswers(gatewayPort)).toBe(false);
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(() => process.kill(watchdog, 0)).toThrow();
    expect(await portAnswers(dynamoPort)).toBe(false);
  }, 90_000);
});
