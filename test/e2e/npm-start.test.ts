import { spawn, type ChildProcess } from 'node:child_process';
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

  it('serves the API on DynamoDB Local, prints where, and leaves nothing running after Ctrl-C', async () => {
    const apiPort = await freePort();
    const dynamoPort = await freePort();
    const output = { text: '' };
    child = spawn('npm', ['start'], {
      env: { ...process.env, DORMOUSE_API_PORT: String(apiPort), DORMOUSE_DYNAMODB_PORT: String(dynamoPort), DORMOUSE_ADMIN_TOKEN: '' },
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

    // The pipe closes once every process that held it, npm's children included, is gone.
    const allClosed = new Promise<void>((resolve) => child?.stdout?.once('close', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    await allClosed;
    expect(output.text).toContain('Stopped. Nothing is left running.');
    expect(await portAnswers(apiPort)).toBe(false);
    expect(await portAnswers(dynamoPort)).toBe(false);
  }, 90_000);
});
