import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/adapters/local/dynamodb-local.js';
import { apiClient } from '../support/http.js';

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

describe('npm start', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    // Clean up even when a step failed: the whole process group, as Ctrl-C would.
    try {
      if (child?.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is already gone, which is what the test wants.
    }
  });

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

    // The pipe closes once every process that held it, npm's children included, is gone.
    const allClosed = new Promise<void>((resolve) => child?.stdout?.once('close', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    await allClosed;
    expect(output.text).toContain('Stopped. Nothing is left running.');
    expect(await portAnswers(apiPort)).toBe(false);
    expect(await portAnswers(gatewayPort)).toBe(false);
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(await portAnswers(dynamoPort)).toBe(false);
  }, 90_000);
});
