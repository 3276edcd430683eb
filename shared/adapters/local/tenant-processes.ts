import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Runs every tenant command; its command line carries the marker that identifies a task's group. */
export const TENANT_SUPERVISOR = fileURLToPath(new URL('./tenant-supervisor.mjs', import.meta.url));

const MARKER_FLAG = '--dormouse-task=';
const RUN_FILE = /^run-(\d+)-[0-9a-f]+\.json$/;

/** One task's process group, as written down while it may be running. */
export interface TenantProcessRecord {
  tenantId: string;
  taskArn: string;
  /** The supervisor's pid, which is also the id of the task's process group. */
  pgid: number;
  /** On the supervisor's command line: how a later run tells this group from an unrelated one. */
  marker: string;
  startedAt: string;
}

export interface LeftoverReport {
  /** Groups of an earlier run that were verified as Dormouse's and stopped. */
  stopped: TenantProcessRecord[];
  /** Processes of a recorded group whose leader is gone: they cannot be verified, so they are left alone. */
  unverified: Array<TenantProcessRecord & { pids: number[] }>;
}

/** The per-user directory where each run records its tenant process groups. */
export function defaultRuntimeDir(): string {
  return join(tmpdir(), `dormouse-${process.getuid?.() ?? 'user'}`);
}

/**
 * The tenant process groups of this run, written to `<runtime dir>/run-<pid>-<id>.json` as they
 * start, so that when the control plane is killed outright the next start finds what it left
 * (should the supervisors' own watch have failed too) and stops it. Each run has a file of its
 * own: two embedded instances at once (tests, two terminals) never touch each other's tenants.
 */
export class TenantProcessRegistry {
  readonly runId = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly file: string | undefined;
  private readonly records = new Map<number, TenantProcessRecord>();

  constructor(
    private readonly dir: string = defaultRuntimeDir(),
    private readonly logger: Pick<Console, 'warn'> = console,
  ) {
    this.file = usableDir(dir, logger) ? join(dir, `run-${this.runId}.json`) : undefined;
  }

  /** Unique to this run and task, e.g. `4242-9f3a…/local:task/acme/1`. */
  markerFor(taskArn: string): string {
    return `${this.runId}/${taskArn}`;
  }

  /** The supervisor's arguments for one task: marker, our pid (which it watches), the command. */
  supervisorArgs(marker: string, command: readonly string[]): string[] {
    return [TENANT_SUPERVISOR, `${MARKER_FLAG}${marker}`, String(process.pid), '--', ...command];
  }

  /** Written synchronously: the record must exist before anything can kill this process. */
  add(record: TenantProcessRecord): void {
    this.records.set(record.pgid, record);
    this.write();
  }

  /**
   * The recorded groups that still have a live process, for the check after a stop; the others
   * are forgotten, and the file goes once none is left.
   */
  async stillRunning(): Promise<TenantProcessRecord[]> {
    for (const [pgid] of this.records) if ((await liveMembers(pgid)).length === 0) this.records.delete(pgid);
    this.write();
    return [...this.records.values()];
  }

  /**
   * Stops the tenant process groups of earlier runs whose control plane is gone. A group is
   * stopped only when its leader still carries the marker that was recorded with it, so a pid
   * reused by an unrelated program is never signalled.
   */
  async reapLeftovers(graceMs = 2_000): Promise<LeftoverReport> {
    const report: LeftoverReport = { stopped: [], unverified: [] };
    if (!this.file) return report;
    for (const name of readdirSync(this.dir)) {
      const owner = RUN_FILE.exec(name);
      if (!owner || join(this.dir, name) === this.file || processAlive(Number(owner[1]))) continue;
      const path = join(this.dir, name);
      for (const record of readRecords(path)) {
        const members = await liveMembers(record.pgid);
        if (members.length === 0) continue;
        const leader = members.includes(record.pgid) ? await commandLine(record.pgid) : undefined;
        if (leader?.includes(TENANT_SUPERVISOR) && leader.includes(`${MARKER_FLAG}${record.marker}`)) {
          await stopGroup(record.pgid, graceMs);
          report.stopped.push(record);
        } else if (leader === undefined) {
          report.unverified.push({ ...record, pids: members });
        }
        // A live leader without the marker is an unrelated program that got the pid: not ours.
      }
      rmSync(path, { force: true });
    }
    return report;
  }

  private write(): void {
    if (!this.file) return;
    try {
      if (this.records.size === 0) {
        rmSync(this.file, { force: true });
        return;
      }
      const temporary = `${this.file}.tmp`;
      writeFileSync(temporary, JSON.stringify([...this.records.values()]), { mode: 0o600 });
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

function readRecords(path: string): TenantProcessRecord[] {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return Array.isArray(parsed) ? parsed.filter((record): record is TenantProcessRecord => Number.isInteger(record?.pgid) && record.pgid > 1 && typeof record.marker === 'string') : [];
  } catch {
    return [];
  }
}

export function processAlive(pid: number): boolean {
  return signalZero(pid);
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
