import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TENANT_WATCHDOG, TenantWatchdog, WATCHDOG_FLAG } from './tenant-watchdog.js';

const RUN_FILE = /^run-(\d+)-[0-9a-f]+\.json$/;

/** One task's process group, as written down while it may be running. */
export interface TenantProcessRecord {
  tenantId: string;
  taskArn: string;
  /** The tenant process's pid, which is also the id of the task's process group. */
  pgid: number;
  /**
   * When that process started, as the system says (see processStartTime): a pid and its start
   * time name one process for good, so a later run tells this group from an unrelated one
   * that got the same pid.
   */
  startTime: string;
  startedAt: string;
}

/** The run's watchdog, as written down while it may be running. */
interface WatchdogRecord {
  pid: number;
  startTime: string;
}

interface RunFile {
  watchdog?: WatchdogRecord;
  groups: TenantProcessRecord[];
}

export interface LeftoverReport {
  /** Groups of an earlier run that were verified as Dormouse's and stopped. */
  stopped: TenantProcessRecord[];
  /** Processes of a recorded group whose leader is gone: they cannot be verified, so they are left alone. */
  unverified: Array<TenantProcessRecord & { pids: number[] }>;
  /** Watchdogs of earlier runs that were still there (unable to act), verified and stopped. */
  watchdogs?: number[];
}

/** The per-user directory where each run records its tenant process groups. */
export function defaultRuntimeDir(): string {
  return join(tmpdir(), `dormouse-${process.getuid?.() ?? 'user'}`);
}

/**
 * The tenant process groups of this run. They are told to the run's one watchdog (see
 * TenantWatchdog), which ends them should the control plane die without doing so, and written
 * to `<runtime dir>/run-<pid>-<id>.json` as they start, with the watchdog, so that when the
 * control plane is killed outright and the watchdog could not act either (stopped, killed with
 * it) the next start finds what was left and stops it. Each run has a file of its own: two
 * embedded instances at once (tests, two terminals) never touch each other's tenants.
 */
export class TenantProcessRegistry {
  readonly runId = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly file: string | undefined;
  private readonly records = new Map<number, TenantProcessRecord>();
  private readonly watchdog: TenantWatchdog;
  private watchdogRecord: WatchdogRecord | undefined;

  constructor(
    private readonly dir: string = defaultRuntimeDir(),
    private readonly logger: Pick<Console, 'warn'> = console,
  ) {
    this.file = usableDir(dir, logger) ? join(dir, `run-${this.runId}.json`) : undefined;
    this.watchdog = new TenantWatchdog(
      this.runId,
      {
        groups: () => [...this.records.keys()],
        started: (pid) => {
          const startTime = pid === undefined ? undefined : processStartTime(pid);
          this.watchdogRecord = pid !== undefined && startTime !== undefined ? { pid, startTime } : undefined;
          this.write();
        },
      },
      logger,
    );
  }

  /** The watchdog's pid while it runs: it starts with the first group and ends with `close`. */
  get watchdogPid(): number | undefined {
    return this.watchdog.pid;
  }

  /**
   * A task's process group, just spawned (its leader's pid). Recorded synchronously: the record
   * must exist before anything can kill this process.
   */
  add(group: Omit<TenantProcessRecord, 'startTime' | 'startedAt'>): void {
    const startTime = processStartTime(group.pgid);
    // No start time: the process is gone already, and its group with it (it led the group).
    if (startTime === undefined) return;
    this.records.set(group.pgid, { ...group, startTime, startedAt: new Date().toISOString() });
    this.write();
    this.watchdog.watch(group.pgid);
  }

  /**
   * The recorded groups that still have a live process, for the check after a stop; the others
   * are forgotten (by the watchdog too), and the file goes once none is left and the watchdog
   * has ended.
   */
  async stillRunning(): Promise<TenantProcessRecord[]> {
    for (const [pgid] of this.records) {
      if ((await liveMembers(pgid)).length > 0 || !this.records.has(pgid)) continue;
      this.records.delete(pgid);
      this.watchdog.forget(pgid);
    }
    this.write();
    return [...this.records.values()];
  }

  /** Ends the watchdog, once every group is stopped: resolves when it has exited. */
  async close(): Promise<void> {
    await this.watchdog.close();
    this.watchdogRecord = undefined;
    this.write();
  }

  /**
   * Stops the tenant process groups and watchdogs of earlier runs whose control plane is gone.
   * A process is signalled only when it still has the start time recorded with it (and, for a
   * watchdog, its command line), so a pid reused by an unrelated program is never signalled.
   */
  async reapLeftovers(graceMs = 2_000): Promise<LeftoverReport> {
    const report: LeftoverReport = { stopped: [], unverified: [] };
    if (!this.file) return report;
    for (const name of readdirSync(this.dir)) {
      const owner = RUN_FILE.exec(name);
      if (!owner || join(this.dir, name) === this.file || processAlive(Number(owner[1]))) continue;
      const path = join(this.dir, name);
      const run = readRunFile(path);
      // The watchdog first: stopped (say SIGSTOP), it could otherwise wake up to act on pids
      // that have been reused by then.
      if (run.watchdog && processStartTime(run.watchdog.pid) === run.watchdog.startTime) {
        const command = await commandLine(run.watchdog.pid);
        if (command?.includes(TENANT_WATCHDOG) && command.includes(WATCHDOG_FLAG)) {
          await stopGroup(run.watchdog.pid, 0);
          report.watchdogs = [...(report.watchdogs ?? []), run.watchdog.pid];
        }
      }
      for (const record of run.groups) {
        const members = await liveMembers(record.pgid);
        if (members.length === 0) continue;
        const leaderStart = members.includes(record.pgid) ? processStartTime(record.pgid) : undefined;
        if (leaderStart === record.startTime) {
          await stopGroup(record.pgid, graceMs);
          report.stopped.push(record);
        } else if (leaderStart === undefined) {
          report.unverified.push({ ...record, pids: members });
        }
        // A live leader that started at another time is an unrelated program that got the pid: not ours.
      }
      rmSync(path, { force: true });
    }
    return report;
  }

  private write(): void {
    if (!this.file) return;
    try {
      if (this.records.size === 0 && !this.watchdogRecord) {
        rmSync(this.file, { force: true });
        return;
      }
      const run: RunFile = { ...(this.watchdogRecord ? { watchdog: this.watchdogRecord } : {}), groups: [...this.records.values()] };
      const temporary = `${this.file}.tmp`;
      writeFileSync(temporary, JSON.stringify(run), { mode: 0o600 });
      renameSync(temporary, this.file);
    } catch (error) {
      this.logger.warn(`[process-compute] could not record tenant processes in ${this.file}: ${(error as Error).message}`);
    }
  }
}

/** Only a directory of our own: records planted by another user must not choose what we kill. */
function usableDir(dir: string, logger: Pick<Console, 'warn'>): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    const ours = process.getuid === undefined || stat.uid === process.getuid();
    if (stat.isDirectory() && ours) return true;
    logger.warn(`[process-compute] ${dir} is not a directory of this user: tenant processes are not recorded`);
  } catch (error) {
    logger.warn(`[process-compute] cannot use ${dir} to record tenant processes: ${(error as Error).message}`);
  }
  return false;
}

function readRunFile(path: string): RunFile {
  const identified = (value: { pid?: unknown; pgid?: unknown; startTime?: unknown } | undefined, key: 'pid' | 'pgid') =>
    Number.isInteger(value?.[key]) && (value![key] as number) > 1 && typeof value?.startTime === 'string';
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunFile> | null;
    return {
      ...(identified(parsed?.watchdog, 'pid') ? { watchdog: parsed!.watchdog! } : {}),
      groups: Array.isArray(parsed?.groups) ? parsed.groups.filter((record) => identified(record, 'pgid')) : [],
    };
  } catch {
    return { groups: [] };
  }
}

/**
 * When a process started, unique to it among all processes with its pid since boot: on Linux
 * the start time in clock ticks from /proc/<pid>/stat (field 22), elsewhere (macOS) `ps -o
 * lstart`. Undefined once the process is gone. Synchronous: records are written before anything
 * else happens.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "<pid> (<name>) <state> …": the name may hold spaces and parentheses, hence the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    if (process.platform === 'linux') return undefined;
  }
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Alive and not a zombie. A control plane killed outright stays a zombie until something reaps
 * it, and under load that can take a while: counted as alive, its run's leftovers would be
 * skipped at the next start.
 */
export function processAlive(pid: number): boolean {
  if (!signalZero(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    // No /proc (macOS): signal 0 is all there is. On Linux the process has just gone.
    return process.platform !== 'linux';
  }
}

function signalZero(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const run = promisify(execFile);

/** A process's command line: /proc on Linux, ps elsewhere (macOS). Undefined once it is gone. */
async function commandLine(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim() || undefined;
  } catch {
    if (process.platform === 'linux') return undefined;
  }
  try {
    return (await run('ps', ['-o', 'command=', '-p', String(pid)])).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The processes of a group that still run, from ps (the same options on Linux and macOS).
 * Zombies do not count: they are dead, waiting for a parent that may never reap them (a
 * container's init). Without ps, a group that answers signal 0 counts as its leader alone.
 */
export async function liveMembers(pgid: number): Promise<number[]> {
  if (!signalZero(-pgid)) return [];
  try {
    const { stdout } = await run('ps', ['-A', '-o', 'pid=,pgid=,stat=']);
    return stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([pid, group, state]) => Number(group) === pgid && Number.isInteger(Number(pid)) && !state?.startsWith('Z'))
      .map(([pid]) => Number(pid));
  } catch {
    return [pgid];
  }
}

/** SIGTERM to the group, SIGKILL after the grace period; resolves once the group is gone or 2 s after the SIGKILL. */
async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  const gone = async (withinMs: number) => {
    const deadline = Date.now() + withinMs;
    while ((await liveMembers(pgid)).length > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  };
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  if (await gone(graceMs)) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return;
  }
  await gone(2_000);
}
