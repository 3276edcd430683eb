import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TenantWatchdog } from '../../shared/adapters/local/tenant-watchdog.js';
import { processGone, waitFor } from '../support/local.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A process group that runs until it is ended, as a tenant's does. */
function sleeper(): number {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  child.unref();
  cleanups.push(() => {
    if (!processGone(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  });
  return child.pid!;
}

describe.runIf(process.platform === 'linux')('the tenant watchdog', () => {
  it('starts again when a signal ends it right after it started (a Ctrl-C while it was being forked), and still ends the groups it knows', async () => {
    const group = sleeper();
    const warnings: string[] = [];
    const watchdog = new TenantWatchdog(
      'test-birth',
      { groups: () => [group], started: () => {} },
      { warn: (line) => warnings.push(line) },
    );
    cleanups.push(() => watchdog.close());
    watchdog.watch(group);
    const first = watchdog.pid!;
    expect(first).toBeGreaterThan(0);

    process.kill(first, 'SIGINT');
    const second = await waitFor('a second watchdog', () => {
      const pid = watchdog.pid;
      return pid !== undefined && pid !== first && pid;
    });
    expect(processGone(first)).toBe(true);
    expect(warnings).toEqual([]);

    // Closing its pipe is what the control plane's death does: the second one ends the group.
    await watchdog.close();
    await waitFor('the group ended', () => processGone(group));
    expect(processGone(second)).toBe(true);
  });

  it('gives up, saying why, when it is ended right after it started a second time', async () => {
    const group = sleeper();
    const warnings: string[] = [];
    const watchdog = new TenantWatchdog(
      'test-twice',
      { groups: () => [group], started: () => {} },
      { warn: (line) => warnings.push(line) },
    );
    cleanups.push(() => watchdog.close());
    watchdog.watch(group);
    const first = watchdog.pid!;
    process.kill(first, 'SIGINT');
    const second = await waitFor('a second watchdog', () => {
      const pid = watchdog.pid;
      return pid !== undefined && pid !== first && pid;
    });
    process.kill(second, 'SIGINT');

    await waitFor('the warning', () => warnings.length > 0);
    expect(warnings).toEqual([expect.stringContaining('could not run the tenant watchdog (it exited right after it started)')]);
    expect(watchdog.pid).toBeUndefined();
  });
});
