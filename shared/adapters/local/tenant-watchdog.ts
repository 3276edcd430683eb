import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The watchdog script (POSIX sh); its command line carries the run's marker. */
export const TENANT_WATCHDOG = fileURLToPath(new URL('./tenant-watchdog.sh', import.meta.url));
export const WATCHDOG_FLAG = '--dormouse-watchdog=';

/** How long `close` waits for the watchdog to end the groups it still knows (it takes up to 2 s). */
const CLOSE_WAIT_MS = 3_000;
/** A watchdog that dies sooner than this after its start is not started again at once. */
const MIN_LIFETIME_MS = 1_000;

/**
 * The one process per run that ends the run's tenant process groups should the control plane
 * die without stopping them, `kill -9` included: see tenant-watchdog.sh. It is told each group
 * as it starts and once it is gone, over its stdin; the kernel closes that pipe however this
 * process ends, which is the watchdog's signal to act. It runs detached, in a process group of
 * its own, so a signal to the control plane's group (Ctrl-C, `kill -9 -<pgid>`) spares it.
 */
export class TenantWatchdog {
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private restartedAtBirth = false;
  private closing = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly runId: string,
    /** The groups to tell a (re)started watchdog about, and a change of its pid to record. */
    private readonly hooks: { groups: () => number[]; started: (pid: number | undefined) => void },
    private readonly logger: Pick<Console, 'warn'> = console,
  ) {}

  /** The watchdog's pid while it runs (it leads its own process group). */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  watch(pgid: number): void {
    if (this.pid === undefined)
      this.start(); // tells it every group, this one included
    else this.send(`+${pgid}`);
  }

  forget(pgid: number): void {
    this.send(`-${pgid}`);
  }

  /**
   * Ends the watchdog: closing its stdin is the same signal as the control plane's death, so it
   * ends the groups it still knows (none after a clean stop) and exits. Resolves once it has.
   */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child || this.pid === undefined) return;
    // Waited for: without these references the event loop of a control plane that has closed
    // everything else would end here, leaving the watchdog and its record behind.
    child.ref();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WAIT_MS)));
    child.stdin?.end();
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      await this.exited;
    }
  }

  private start(): void {
    if (this.closing) return;
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', [TENANT_WATCHDOG, `${WATCHDOG_FLAG}${this.runId}`], {
        cwd: '/',
        env: process.env.PATH ? { PATH: process.env.PATH } : {},
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      });
    } catch (error) {
      this.cannotWatch((error as Error).message);
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Neither the watchdog nor its pipe keeps the control plane's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on('error', () => {
      // EPIPE: the watchdog is gone; its exit handler says so.
    });
    child.once('error', (error) => {
      if (child.pid === undefined) this.cannotWatch(error.message);
    });
    child.once('exit', (_code, signal) => {
      if (this.child !== child) return;
      this.hooks.started(undefined);
      if (this.closing || this.hooks.groups().length === 0) return;
      if (Date.now() - this.startedAt < MIN_LIFETIME_MS) {
        // Until it has a session of its own the new process is in the control plane's group, so a
        // Ctrl-C to that group in that moment ends it (Node holds the signal back until it has
        // set itself apart, then lets it through): started once more.
        if (signal && !this.restartedAtBirth) {
          this.restartedAtBirth = true;
          this.start();
          return;
        }
        this.cannotWatch('it exited right after it started');
        return;
      }
      this.logger.warn('[process-compute] the tenant watchdog ended unexpectedly: starting another one');
      this.restartedAtBirth = false;
      this.start();
    });
    if (child.pid !== undefined) this.hooks.started(child.pid);
    for (const pgid of this.hooks.groups()) this.send(`+${pgid}`);
  }

  private send(line: string): void {
    const stdin = this.child?.stdin;
    if (this.pid === undefined || !stdin || stdin.writableEnded) return;
    stdin.write(`${line}\n`);
  }

  private cannotWatch(why: string): void {
    this.logger.warn(
      `[process-compute] could not run the tenant watchdog (${why}): tenant processes outlive a control plane that is killed, until the next start stops them`,
    );
  }
}
