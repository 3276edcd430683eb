import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskStateChange } from '../../app/task-event.js';
import type { Compute, ObservedTask, RunTaskRequest, RunTaskResult } from '../../ports/compute.js';
import type { TaskInventory } from '../../ports/inventory.js';
import { LOCAL_INSTALLATION } from '../../domain/installation.js';
import { startedBy, type Owner } from '../common/names.js';
import { freePort } from './dynamodb-local.js';
import { confinedTo } from './node-permissions.js';
import { readLines } from './output-lines.js';
import { TenantProcessRegistry, defaultRuntimeDir, type LeftoverReport, type TenantProcessRecord } from './tenant-processes.js';

/** The repository root: the default command and working directory are resolved from it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const DEMO_APP = join(REPO_ROOT, 'demo', 'whoami.mjs');

/** The demo tenant application, run with the Node that runs the control plane. */
export const DEFAULT_TENANT_COMMAND: readonly string[] = [process.execPath, DEMO_APP];

/** The demo app with its data: it may read its own code, and read and write its DATA_DIR only. */
export function demoCommandWith(dataDir: string): string[] {
  return [process.execPath, ...confinedTo({ readable: [DEMO_APP], writable: [dataDir] }), DEMO_APP];
}

/** ECS keeps the reason of a stopped task to 255 characters; so do we, for the container reason. */
const MAX_REASON_LENGTH = 255;

export type TaskEventListener = (event: TaskStateChange) => void | Promise<void>;

export interface TaskOutputLine {
  tenantId: string;
  taskArn: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface ProcessComputeOptions {
  /** In every task's `startedBy` and tags, as on AWS. @default 'local' */
  installation?: string;
  /** The tenant application: argv of the child process. @default DEFAULT_TENANT_COMMAND (demo/whoami.mjs) */
  command?: readonly string[];
  /** @default REPO_ROOT */
  cwd?: string;
  /** Extra environment for every tenant, on top of PATH, PORT, TENANT_ID, TENANT_HOST and DATA_DIR. */
  env?: Record<string, string>;
  /** How long a task may take to accept connections on its port before it is killed. @default 10_000 */
  startTimeoutMs?: number;
  /** How often the port is tried while the task starts. @default 100 */
  readinessPollMs?: number;
  /** Between SIGTERM and SIGKILL when a task is stopped, like ECS's stopTimeout. @default 5_000 */
  stopGraceMs?: number;
  /** How long STOPPED tasks stay visible to `tenantTasks` (ECS keeps them about an hour). @default 3_600_000 */
  stoppedRetentionMs?: number;
  /** Each line a tenant prints; discarded when absent (the pipes are drained either way). */
  onOutput?: (output: TaskOutputLine) => void;
  /** Where listener failures go. @default console */
  logger?: Pick<Console, 'warn'>;
  /** Where this run records its tenant process groups, for the next run to find. @default defaultRuntimeDir() */
  runtimeDir?: string;
}

interface LocalTask {
  observed: ObservedTask;
  /** As RunTask's `startedBy` and tags: how `tenantTasks` finds and checks the task. */
  startedBy: string;
  tags: Owner;
  clientToken: string;
  version: number;
  child?: ChildProcess;
  port?: number;
  lastStderrLine?: string;
  stoppedAt?: number;
  /** Resolves once the task is STOPPED. */
  stopped: Promise<void>;
  markStopped: () => void;
  killTimer?: NodeJS.Timeout;
}

/**
 * Compute for embedded mode: each tenant task is a child process listening on a free loopback
 * port, whose "IP" is `127.0.0.1:<port>`. It goes through the ECS lifecycle (PROVISIONING,
 * PENDING, RUNNING once its port accepts connections, STOPPED) and reports every change as an
 * ECS-shaped task state change with a growing version, so the same task-event handler and
 * reconciler run unchanged.
 *
 * Each child runs in its own process group, killed as a whole: an application that forks
 * (say `npm start`) leaves nothing behind, and a Ctrl-C at the terminal reaches the control
 * plane only, which then stops tenants in order instead of watching them all "crash". Should
 * the control plane die without stopping them, one watchdog process for the whole run ends the
 * groups (see TenantWatchdog), and the next start stops what even that missed.
 */
export class ProcessCompute implements Compute, TaskInventory {
  private readonly installation: string;
  private readonly command: readonly string[];
  private readonly cwd: string;
  private readonly env: Record<string, string>;
  private readonly startTimeoutMs: number;
  private readonly readinessPollMs: number;
  private readonly stopGraceMs: number;
  private readonly stoppedRetentionMs: number;
  private readonly onOutput: ((output: TaskOutputLine) => void) | undefined;
  private readonly logger: Pick<Console, 'warn'>;

  private readonly tasks = new Map<string, LocalTask>();
  private readonly byToken = new Map<string, LocalTask>();
  private readonly listeners = new Set<TaskEventListener>();
  private readonly portsInUse = new Set<number>();
  private readonly sequences = new Map<string, number>();
  private readonly registry: TenantProcessRegistry;
  private shuttingDown = false;
  private exitHookInstalled = false;

  constructor({
    installation = LOCAL_INSTALLATION,
    command = DEFAULT_TENANT_COMMAND,
    cwd = REPO_ROOT,
    env = {},
    startTimeoutMs = 10_000,
    readinessPollMs = 100,
    stopGraceMs = 5_000,
    stoppedRetentionMs = 3_600_000,
    onOutput,
    logger = console,
    runtimeDir = defaultRuntimeDir(),
  }: ProcessComputeOptions = {}) {
    if (command.length === 0) throw new RangeError('ProcessCompute needs a command: at least the program to run');
    this.installation = installation;
    this.command = command;
    this.cwd = cwd;
    this.env = env;
    this.startTimeoutMs = startTimeoutMs;
    this.readinessPollMs = readinessPollMs;
    this.stopGraceMs = stopGraceMs;
    this.stoppedRetentionMs = stoppedRetentionMs;
    this.onOutput = onOutput;
    this.logger = logger;
    this.registry = new TenantProcessRegistry(runtimeDir, logger);
  }

  /** Every task state change, in order per task; returns a function that unsubscribes. */
  onTaskEvent(listener: TaskEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async runTask(request: RunTaskRequest): Promise<RunTaskResult> {
    // Registered before any await, so a concurrent retry with the same token finds this task.
    const existing = this.byToken.get(request.clientToken);
    if (existing) return { started: true, task: { ...existing.observed } };
    if (this.shuttingDown) {
      return { started: false, capacityUnavailable: false, reason: 'the local compute is shutting down' };
    }

    const sequence = (this.sequences.get(request.tenantId) ?? 0) + 1;
    this.sequences.set(request.tenantId, sequence);
    let markStopped!: () => void;
    const task: LocalTask = {
      observed: {
        arn: `local:task/${request.tenantId}/${sequence}`,
        tenantId: request.tenantId,
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        capacityProvider: request.capacityProvider,
        // Remembered for the task's life, as ECS keeps a task's tags.
        launchedAs: request.launchedAs,
      },
      startedBy: startedBy(this.installation, request.tenantId),
      tags: { tenantId: request.tenantId, installation: this.installation },
      clientToken: request.clientToken,
      version: 0,
      stopped: new Promise<void>((resolve) => (markStopped = resolve)),
      markStopped: () => markStopped(),
    };
    this.prune();
    this.tasks.set(task.observed.arn, task);
    this.byToken.set(request.clientToken, task);
    this.emit(task);
    const snapshot = { ...task.observed };

    try {
      task.port = await this.allocatePort();
    } catch (error) {
      this.finish(task, { stopCode: 'TaskFailedToStart', stoppedReason: `No free loopback port: ${(error as Error).message}` });
      return { started: true, task: snapshot };
    }
    // Stopped (or shut down) while a port was found: never start it.
    if (task.observed.desiredStatus === 'STOPPED' || this.shuttingDown) {
      this.finish(task, { stopCode: task.observed.stopCode ?? 'UserInitiated' });
      return { started: true, task: snapshot };
    }
    this.spawnChild(task, request);
    return { started: true, task: snapshot };
  }

  /**
   * As the ECS adapter sees them: tasks listed by `startedBy` alone (desired RUNNING) whose tags
   * are this tenant's and installation's, plus the known ones whatever their status.
   */
  async tenantTasks(tenantId: string, knownArns: string[]): Promise<ObservedTask[]> {
    this.prune();
    const known = new Set(knownArns);
    const listedAs = startedBy(this.installation, tenantId);
    const listed = (task: LocalTask) =>
      task.startedBy === listedAs &&
      task.observed.desiredStatus === 'RUNNING' &&
      task.observed.lastStatus !== 'STOPPED' &&
      task.tags.tenantId === tenantId &&
      task.tags.installation === this.installation;
    return [...this.tasks.values()]
      .filter((task) => task.observed.tenantId === tenantId && (known.has(task.observed.arn) || listed(task)))
      .map(({ observed }) => ({ ...observed }));
  }

  /**
   * Tasks meant to run, for drift repair: like `ListTasks desiredStatus=RUNNING` in the ECS
   * adapter, so a task already being stopped is not reported as an orphan.
   */
  async allTenantTasks(): Promise<ObservedTask[]> {
    return [...this.tasks.values()]
      .filter(
        ({ observed, tags }) =>
          observed.desiredStatus === 'RUNNING' && observed.lastStatus !== 'STOPPED' && tags.installation === this.installation,
      )
      .map(({ observed }) => ({ ...observed }));
  }

  /** Stopping a task that is stopping, stopped or unknown is success: the caller wanted it gone. */
  async stopTask(arn: string, reason: string): Promise<void> {
    const task = this.tasks.get(arn);
    if (!task || task.observed.lastStatus === 'STOPPED' || task.observed.desiredStatus === 'STOPPED') return;
    this.beginStop(task, { stopCode: 'UserInitiated', stoppedReason: reason.slice(0, MAX_REASON_LENGTH) });
  }

  /**
   * The process id of a task's child, while it has one, which is also the id of the task's
   * process group: for logs and tests.
   */
  pidOf(arn: string): number | undefined {
    const task = this.tasks.get(arn);
    return task?.child && task.observed.lastStatus !== 'STOPPED' ? task.child.pid : undefined;
  }

  /**
   * Stops every task (SIGTERM, then SIGKILL after the grace period) and resolves once all
   * child processes have exited. No events are emitted from here on: whoever listens is
   * shutting down too. Used on Ctrl-C; later runTask calls are refused.
   */
  async stopAll(): Promise<void> {
    this.shuttingDown = true;
    this.listeners.clear();
    const live = [...this.tasks.values()].filter((task) => task.observed.lastStatus !== 'STOPPED');
    for (const task of live) {
      if (task.observed.desiredStatus !== 'STOPPED') {
        this.beginStop(task, { stopCode: 'UserInitiated', stoppedReason: 'Dormouse: the control plane is shutting down' });
      }
    }
    await Promise.all(live.map((task) => task.stopped));
    // Forgets the groups that are gone, then ends the watchdog: a clean stop leaves no record behind.
    await this.registry.stillRunning();
    await this.registry.close();
  }

  /** The pid of the run's watchdog while it runs (see TenantWatchdog): none once `stopAll` has resolved. */
  watchdogPid(): number | undefined {
    return this.registry.watchdogPid;
  }

  /**
   * Tenant process groups still alive among those this run started: none once `stopAll` has
   * resolved, unless a process resisted SIGKILL (uninterruptible sleep) or left its group.
   */
  stillRunning(): Promise<TenantProcessRecord[]> {
    return this.registry.stillRunning();
  }

  /**
   * Stops what an earlier run that was killed outright left running (see TenantProcessRegistry),
   * and says so. Meant for start-up, before any task of this run starts.
   */
  async reapLeftovers(): Promise<LeftoverReport> {
    const report = await this.registry.reapLeftovers(this.stopGraceMs);
    const list = (records: TenantProcessRecord[]) =>
      records.map((record) => `${record.tenantId} (process group ${record.pgid})`).join(', ');
    if (report.watchdogs) {
      this.logger.warn(`Dormouse: stopped the tenant watchdog that an earlier run left behind (process ${report.watchdogs.join(', ')})`);
    }
    if (report.stopped.length > 0) {
      this.logger.warn(`Dormouse: stopped tenant processes that an earlier run left behind: ${list(report.stopped)}`);
    }
    for (const group of report.unverified) {
      this.logger.warn(
        `Dormouse: processes ${group.pids.join(', ')} remain of tenant ${group.tenantId}'s process group ${group.pgid} from an earlier run; ` +
          "they cannot be verified as Dormouse's, so they are left alone: check them, and stop them if they are.",
      );
    }
    return report;
  }

  // ---- Lifecycle ----------------------------------------------------------------------------

  /** The plan's size is not enforced locally: a tenant process takes what the machine gives it. */
  private spawnChild(task: LocalTask, { host, volume: dataDir, environment }: RunTaskRequest): void {
    const { observed } = task;
    // The demo app is confined to its own data; a command of the operator's runs as given.
    const command = this.command === DEFAULT_TENANT_COMMAND && dataDir ? demoCommandWith(dataDir) : this.command;
    const [program, ...args] = command as [string, ...string[]];
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd: this.cwd,
        // Only what the application needs: the control plane's own secrets and NODE_OPTIONS
        // (tsx, vitest loaders) are not the tenant's business.
        env: {
          ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
          ...this.env,
          // The plan's and the tenant's own, under the platform's variables, which always win.
          ...environment,
          PORT: String(task.port),
          TENANT_ID: observed.tenantId,
          TENANT_HOST: host,
          ...(dataDir ? { DATA_DIR: dataDir } : {}),
          EXIT_WITH_STDIN: '1',
        },
        // stdin stays an open pipe that we never write to: it closes when this process dies.
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (error) {
      this.finish(task, { stopCode: 'TaskFailedToStart', stoppedReason: `Could not start ${program}: ${(error as Error).message}` });
      return;
    }
    task.child = child;
    // Leads its process group (detached): recorded, and told to the run's watchdog, which ends
    // the group should this process die without stopping it (SIGKILL, a crash).
    if (child.pid !== undefined) this.registry.add({ tenantId: observed.tenantId, taskArn: observed.arn, pgid: child.pid });
    this.installExitHook();

    this.readOutput(task, child, 'stdout');
    this.readOutput(task, child, 'stderr');
    child.stdin?.on('error', () => {
      // EPIPE when the child closes its stdin early: harmless, we never write to it.
    });

    child.on('error', (error) => {
      // Spawning failed (ENOENT, EACCES): there is no process and there will be no 'exit'.
      // Later errors (a signal that could not be sent) change nothing: 'exit' still comes.
      if (child.pid === undefined) {
        this.finish(task, { stopCode: 'TaskFailedToStart', stoppedReason: `Could not start ${program}: ${error.message}` });
      }
    });
    child.once('spawn', () => {
      if (observed.lastStatus !== 'PROVISIONING') return;
      observed.lastStatus = 'PENDING';
      observed.ip = `127.0.0.1:${task.port}`;
      this.emit(task);
      void this.waitUntilListening(task);
    });
    child.once('exit', (code, signal) => {
      // stderr may still hold the last words of the process: wait for the pipes, briefly,
      // since a grandchild that kept them open must not keep the task from stopping.
      const settle = () => this.exited(task, code, signal);
      const timer = setTimeout(settle, 500);
      child.once('close', () => {
        clearTimeout(timer);
        settle();
      });
    });
  }

  private async waitUntilListening(task: LocalTask): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    while (task.observed.lastStatus === 'PENDING' && task.observed.desiredStatus === 'RUNNING') {
      if (await portAccepts(task.port!)) {
        if (task.observed.lastStatus !== 'PENDING' || task.observed.desiredStatus !== 'RUNNING') return;
        task.observed.lastStatus = 'RUNNING';
        task.observed.startedAt = new Date().toISOString();
        this.emit(task);
        return;
      }
      if (Date.now() >= deadline) {
        this.beginStop(task, {
          stopCode: 'TaskFailedToStart',
          stoppedReason: `The application did not start listening within ${this.startTimeoutMs / 1000} s`,
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, this.readinessPollMs));
    }
  }

  /** Asked to stop: desired STOPPED now, SIGTERM to the process group, SIGKILL after the grace period. */
  private beginStop(task: LocalTask, reason: { stopCode: string; stoppedReason: string }): void {
    const { observed, child } = task;
    observed.desiredStatus = 'STOPPED';
    observed.stopCode = reason.stopCode;
    observed.stoppedReason = reason.stoppedReason;
    if (!child || child.pid === undefined) {
      // Not spawned yet: runTask sees desiredStatus and finishes it without starting anything.
      this.emit(task);
      return;
    }
    observed.lastStatus = 'STOPPING';
    this.emit(task);
    signalGroup(child, 'SIGTERM');
    task.killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), this.stopGraceMs);
    task.killTimer.unref();
  }

  private exited(task: LocalTask, code: number | null, signal: NodeJS.Signals | null): void {
    if (task.observed.lastStatus === 'STOPPED') return;
    // Stragglers in the group (a forked worker) go with the process that owned the task.
    if (task.child) signalGroup(task.child, 'SIGKILL');
    if (task.observed.desiredStatus === 'STOPPED') {
      // We asked for it (StopTask, start timeout): keep that reason.
      this.finish(task, {
        ...(code !== null ? { exitCode: code } : {}),
        ...(task.observed.stopCode === 'UserInitiated' || !task.lastStderrLine ? {} : { containerReason: task.lastStderrLine }),
      });
      return;
    }
    this.finish(task, {
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      // No exit code for a signal: ECS would say 137 for SIGKILL, which reads as "out of memory".
      ...(code !== null ? { exitCode: code } : {}),
      containerReason: task.lastStderrLine ?? (signal ? `The process was killed by ${signal}` : `The process exited with code ${code}`),
    });
  }

  private finish(
    task: LocalTask,
    details: { stopCode?: string; stoppedReason?: string; exitCode?: number; containerReason?: string },
  ): void {
    const { observed } = task;
    if (observed.lastStatus === 'STOPPED') return;
    clearTimeout(task.killTimer);
    observed.lastStatus = 'STOPPED';
    observed.desiredStatus = 'STOPPED';
    if (details.stopCode) observed.stopCode = details.stopCode;
    if (details.stoppedReason) observed.stoppedReason = details.stoppedReason;
    if (details.exitCode !== undefined) observed.exitCode = details.exitCode;
    if (details.containerReason) observed.containerReason = details.containerReason.slice(0, MAX_REASON_LENGTH);
    task.stoppedAt = Date.now();
    // Only a task that ran has a running time to end, as with ECS.
    if (observed.startedAt) observed.stoppedAt = new Date(task.stoppedAt).toISOString();
    if (task.port !== undefined) this.portsInUse.delete(task.port);
    this.emit(task);
    task.markStopped();
    // Keeps the record file and the watchdog to the groups that may still be alive; once more a
    // moment later, for this one's stragglers, so the watchdog never keeps a pgid that a new
    // unrelated group could get.
    void this.registry.stillRunning();
    setTimeout(() => void this.registry.stillRunning(), 1_000).unref();
    if (![...this.tasks.values()].some((other) => other.child && other.observed.lastStatus !== 'STOPPED')) {
      this.removeExitHook();
    }
  }

  // ---- Plumbing -----------------------------------------------------------------------------

  /** Every change bumps the task's version and goes to the listeners, as ECS events do. */
  private emit(task: LocalTask): void {
    task.version += 1;
    if (this.shuttingDown) return;
    const event: TaskStateChange = { task: { ...task.observed }, version: task.version };
    for (const listener of this.listeners) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((error: unknown) => this.listenerFailed(event, error));
      } catch (error) {
        this.listenerFailed(event, error);
      }
    }
  }

  private listenerFailed(event: TaskStateChange, error: unknown): void {
    this.logger.warn('[process-compute] a task event listener failed', { taskArn: event.task.arn, version: event.version, error });
  }

  /** freePort can hand out a port another starting task has not bound yet: skip those. */
  private async allocatePort(): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await freePort();
      if (!this.portsInUse.has(port)) {
        this.portsInUse.add(port);
        return port;
      }
    }
    throw new Error('every port offered was already given to another task');
  }

  private readOutput(task: LocalTask, child: ChildProcess, stream: 'stdout' | 'stderr'): void {
    const source = child[stream];
    if (!source) return;
    readLines(source, (line) => {
      if (stream === 'stderr') task.lastStderrLine = line.trim();
      this.onOutput?.({ tenantId: task.observed.tenantId, taskArn: task.observed.arn, stream, line });
    });
  }

  /** STOPPED tasks are forgotten after the retention period, with their client tokens. */
  private prune(): void {
    const cutoff = Date.now() - this.stoppedRetentionMs;
    for (const [arn, task] of this.tasks) {
      if (task.stoppedAt !== undefined && task.stoppedAt < cutoff) {
        this.tasks.delete(arn);
        if (this.byToken.get(task.clientToken) === task) this.byToken.delete(task.clientToken);
      }
    }
  }

  /**
   * 'exit' handlers can only do synchronous work, which SIGKILL is: however this process ends
   * (short of SIGKILL, which the run's watchdog covers), no tenant outlives it.
   */
  private readonly killAllNow = () => {
    for (const task of this.tasks.values()) {
      if (task.child && task.observed.lastStatus !== 'STOPPED') signalGroup(task.child, 'SIGKILL');
    }
  };

  private installExitHook(): void {
    if (this.exitHookInstalled) return;
    this.exitHookInstalled = true;
    process.on('exit', this.killAllNow);
  }

  private removeExitHook(): void {
    if (!this.exitHookInstalled) return;
    this.exitHookInstalled = false;
    process.off('exit', this.killAllNow);
  }
}

/** Signals the child's whole process group; it may be gone already, which is fine. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // ESRCH: nothing left to signal.
    }
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
