import { spawn } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TenantWatchdog } from '../../shared/adapters/local/tenant-watchdog.js';
import { Cleanup, processGone, waitFor } from '../support/local.js';

const groups = new Cleanup();
const watchdogs: TenantWatchdog[] = [];
afterEach(async () => {
  for (const watchdog of watchdogs.splice(0)) await watchdog.close();
});
afterAll(() => groups.killAll());

/**
 * A watchdog told one tenant-like process group, whose first process a SIGINT ends at once, as a
 * Ctrl-C to the control plane's group does while the watchdog is being forked. Resolves once the
 * second process runs.
 */
async function watchdogEndedAtBirth(runId: string) {
  const sleeper = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  sleeper.unref();
  const group = sleeper.pid!;
  groups.group(group);
  const warnings: string[] = [];
  const watchdog = new TenantWatchdog(runId, { groups: () => [group], started: () => {} }, { warn: (line) => warnings.push(line) });
  watchdogs.push(watchdog);
  watchdog.watch(group);
  const first = watchdog.pid!;
  expect(first).toBeGreaterThan(0);
  process.kill(first, 'SIGINT');
  const second = await waitFor('a second watchdog', () => {
    const pid = watchdog.pid;
    return pid !== undefined && pid !== first && pid;
  });
  return { group, warnings, watchdog, first, second };
}

describe.runIf(process.platform === 'linux')('the tenant watchdog', () => {
  it('starts again when a signal ends it right after it started (a Ctrl-C while it was being forked), and still ends the groups it knows', async () => {
    const { group, warnings, watchdog, first, second } = await watchdogEndedAtBirth('test-birth');
    expect(processGone(first)).toBe(true);
    expect(warnings).toEqual([]);

    // Closing its pipe is what the control plane's death does: the second one ends the group.
    await watchdog.close();
    await waitFor('the group ended', () => processGone(group));
    expect(processGone(second)).toBe(true);
  });

  it('gives up, saying why, when it is ended right after it started a second time', async () => {
    const { warnings, watchdog, second } = await watchdogEndedAtBirth('test-twice');
    process.kill(second, 'SIGINT');

    await waitFor('the warning', () => warnings.length > 0);
    expect(warnings).toEqual([expect.stringContaining('could not run the tenant watchdog (it exited right after it started)')]);
    expect(watchdog.pid).toBeUndefined();
  });
});
