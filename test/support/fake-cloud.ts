import {
  CloudRefusedError,
  CloudUnavailableError,
  ForeignResourceError,
  TargetGroupInUseError,
  TargetGroupNotFoundError,
} from '../../shared/domain/errors.js';
import type { CapacityProvider } from '../../shared/domain/tenant.js';
import type { Compute, ObservedTask, RunTaskRequest, RunTaskResult } from '../../shared/ports/compute.js';
import type { HostRule, Routing, Target } from '../../shared/ports/routing.js';
import type { DataSize, Storage, StorageInventory } from '../../shared/ports/storage.js';

/**
 * A model of the parts of ECS and ELBv2 the reconciler relies on, at the port level, for
 * use-case tests that need a world that moves: tasks start, get IPs, pass health checks, get
 * interrupted, stop. The AWS adapters themselves are tested against the real SDK with
 * aws-sdk-client-mock; this lets the reconciler be driven through thousands of interleavings.
 */

export interface FakeTask extends ObservedTask {
  clientToken: string;
  /** Ticks since RunTask, for the listing lag. */
  age: number;
  /** Ticks until the next lifecycle move. */
  ticks: number;
  /** The tenant's data, when the task was started with it: mounted until the task is STOPPED. */
  volume?: string;
}

/** `throttle`: retry later; `deny`: AWS refuses (IAM), and will again; `crash`: the process dies. */
export type FaultKind = 'throttle' | 'deny' | 'crash';

export interface FakeCloudOptions {
  /** Decides, per call, whether to inject a fault. Defaults to never. */
  fault?: (operation: string) => FaultKind | undefined;
  spotCapacity?: boolean;
  onDemandCapacity?: boolean;
  /**
   * ECS's ListTasks is eventually consistent: a task started this many ticks ago or less is
   * not listed yet (a task the caller names by ARN is still described).
   */
  listingLagTicks?: number;
  /** The time tasks are stamped with when they start running (`startedAt`); none when absent. */
  now?: () => Date;
}

/** Simulates a process dying between two steps: the call happened (or not) and nothing after it. */
export class CrashError extends Error {
  override name = 'CrashError';
}

export class FakeCloud implements Compute, Routing {
  readonly tasks = new Map<string, FakeTask>();
  readonly targetGroups = new Map<string, { tenantId: string; targets: Map<string, Target & { ticks: number }> }>();
  /** Every shard's rules; each knows its shard (its listener), as an ALB rule's ARN names its listener. */
  readonly rules = new Map<string, HostRule & { host: string; tenantId: string; shard: number }>();
  readonly calls: string[] = [];
  /** What each task that started was asked to be (size, environment, plan). */
  readonly runRequests: RunTaskRequest[] = [];
  /** The tenants' persistent data, faulted like every other call. */
  readonly storage: FakeStorage;
  /** ECS task state change events, as EventBridge would deliver them (before any loss or reordering). */
  readonly events: Array<{ task: ObservedTask; version: number }> = [];
  private readonly versions = new Map<string, number>();
  spotCapacity: boolean;
  onDemandCapacity: boolean;
  /** Per tenant: make the next tasks exit right after starting, with this reason. */
  readonly crashLoop = new Map<string, { containerReason: string; exitCode?: number }>();
  /** Per tenant: its targets fail their health checks, for this reason (as the adapter words it). */
  readonly failingHealthChecks = new Map<string, string>();
  private sequence = 0;
  private readonly fault: (operation: string) => FaultKind | undefined;
  private readonly listingLagTicks: number;
  private readonly now: (() => Date) | undefined;

  constructor(options: FakeCloudOptions = {}) {
    this.fault = options.fault ?? (() => undefined);
    this.spotCapacity = options.spotCapacity ?? true;
    this.onDemandCapacity = options.onDemandCapacity ?? true;
    this.listingLagTicks = options.listingLagTicks ?? 0;
    this.now = options.now;
    this.storage = new FakeStorage(this);
  }

  /** Faults happen before the call for throttling, after it for crashes (the worse case). */
  async call<T>(operation: string, run: () => T): Promise<T> {
    this.calls.push(operation);
    const fault = this.fault(operation);
    // Thrown as the AWS adapters translate them (shared/adapters/aws/aws-errors.ts).
    if (fault === 'throttle') throw new CloudUnavailableError(operation, 'ThrottlingException');
    if (fault === 'deny') {
      throw new CloudRefusedError(
        `Dormouse is not allowed to call ${operation} (${operation} was denied); check the reconciler's IAM role (AWS said: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/dormouse-reconcile/fn is not authorized to perform: ecs:${operation}).`,
        operation,
        'AccessDeniedException',
      );
    }
    const value = run();
    if (fault === 'crash') throw new CrashError(`crashed after ${operation}`);
    return value;
  }

  /** Every change to a task bumps its version and emits an event, as ECS does. */
  private emit(task: FakeTask): void {
    const version = (this.versions.get(task.arn) ?? 0) + 1;
    this.versions.set(task.arn, version);
    // ECS task state change events carry no tags: nothing says what the task was started as.
    const { launchedAs: _launchedAs, ...observed } = snapshot(task);
    this.events.push({ task: observed, version });
  }

  countCalls(operation: string): number {
    return this.calls.filter((call) => call === operation).length;
  }

  // ---- Compute ----------------------------------------------------------------------------

  runTask(request: RunTaskRequest): Promise<RunTaskResult> {
    return this.call('RunTask', () => {
      const existing = [...this.tasks.values()].find((task) => task.clientToken === request.clientToken);
      if (existing) return { started: true as const, task: snapshot(existing) };
      const capacity = request.capacityProvider === 'FARGATE_SPOT' ? this.spotCapacity : this.onDemandCapacity;
      if (!capacity) {
        return { started: false as const, capacityUnavailable: true, reason: 'Capacity is unavailable at this time' };
      }
      const task = this.startTask(request.tenantId, request.capacityProvider, request.clientToken);
      this.runRequests.push(request);
      task.launchedAs = request.launchedAs;
      if (request.volume) task.volume = request.volume;
      return { started: true as const, task: snapshot(task) };
    });
  }

  private startTask(tenantId: string, capacityProvider: CapacityProvider, clientToken: string): FakeTask {
    this.sequence += 1;
    const task: FakeTask = {
      arn: `arn:aws:ecs:eu-west-1:123456789012:task/dormouse/${this.sequence}`,
      tenantId,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      capacityProvider,
      clientToken,
      ticks: 1,
      age: 0,
    };
    this.tasks.set(task.arn, task);
    this.emit(task);
    return task;
  }

  tenantTasks(tenantId: string, knownArns: string[]): Promise<ObservedTask[]> {
    return this.call('DescribeTasks', () =>
      [...this.tasks.values()]
        .filter((task) => task.tenantId === tenantId)
        // As EcsCompute sees them: ListTasks by startedBy alone lists desired-RUNNING tasks only.
        .filter(
          (task) =>
            knownArns.includes(task.arn) ||
            (task.desiredStatus === 'RUNNING' && task.lastStatus !== 'STOPPED' && task.age >= this.listingLagTicks),
        )
        .map(snapshot),
    );
  }

  stopTask(arn: string, reason: string): Promise<void> {
    return this.call('StopTask', () => {
      const task = this.tasks.get(arn);
      if (!task || task.lastStatus === 'STOPPED') return;
      task.desiredStatus = 'STOPPED';
      task.stoppedReason ??= reason;
      task.stopCode ??= 'UserInitiated';
      task.ticks = 1;
      this.emit(task);
    });
  }

  // ---- Routing ----------------------------------------------------------------------------

  ensureTargetGroup(tenantId: string): Promise<string> {
    return this.call('CreateTargetGroup', () => {
      const arn = tgArn(tenantId);
      if (!this.targetGroups.has(arn)) this.targetGroups.set(arn, { tenantId, targets: new Map() });
      return arn;
    });
  }

  findTargetGroup(tenantId: string): Promise<string | undefined> {
    return this.call('DescribeTargetGroups', () => (this.targetGroups.has(tgArn(tenantId)) ? tgArn(tenantId) : undefined));
  }

  targets(targetGroupArn: string): Promise<Target[]> {
    return this.call('DescribeTargetHealth', () => {
      const group = this.targetGroups.get(targetGroupArn);
      if (!group) throw new TargetGroupNotFoundError(targetGroupArn);
      return [...group.targets.values()].map(({ ip, health, reason }) => ({ ip, health, ...(reason ? { reason } : {}) }));
    });
  }

  registerTarget(targetGroupArn: string, ip: string): Promise<void> {
    return this.call('RegisterTargets', () => {
      const group = this.targetGroups.get(targetGroupArn);
      if (!group) throw new TargetGroupNotFoundError(targetGroupArn);
      const existing = group.targets.get(ip);
      if (!existing || existing.health === 'draining') group.targets.set(ip, { ip, health: 'initial', ticks: 1 });
    });
  }

  deregisterTarget(targetGroupArn: string, ip: string): Promise<void> {
    return this.call('DeregisterTargets', () => {
      this.targetGroups.get(targetGroupArn)?.targets.delete(ip);
    });
  }

  deleteTargetGroup(targetGroupArn: string): Promise<void> {
    return this.call('DeleteTargetGroup', () => {
      if ([...this.rules.values()].some((rule) => rule.targetGroupArn === targetGroupArn)) {
        throw new TargetGroupInUseError(targetGroupArn);
      }
      this.targetGroups.delete(targetGroupArn);
    });
  }

  /** Hosts match whatever their case, and another tenant's rule for the host is refused, as ElbRouting does. */
  findRule(tenantId: string, host: string, _knownArn?: string, shard = 0): Promise<HostRule | undefined> {
    return this.call('DescribeRules', () => {
      const wanted = host.toLowerCase();
      const rule = [...this.rules.values()].find((candidate) => candidate.host === wanted && candidate.shard === shard);
      if (rule && rule.tenantId !== tenantId) {
        throw new ForeignResourceError('rule', `for host ${host}`, tenantId, { tenantId: rule.tenantId, installation: undefined });
      }
      return rule ? { arn: rule.arn, priority: rule.priority, targetGroupArn: rule.targetGroupArn } : undefined;
    });
  }

  createRule(
    tenantId: string,
    host: string,
    targetGroupArn: string,
    shard = 0,
    { adoptOnTaken = true }: { adoptOnTaken?: boolean } = {},
  ): Promise<HostRule> {
    return this.call('CreateRule', () => {
      // The tenant's rule for the host already there (made just before a crash) is adopted, as
      // ElbRouting finds it when its priority is taken; told not to look for it, a twin is made.
      const own = [...this.rules.values()].find(
        (rule) => rule.host === host.toLowerCase() && rule.tenantId === tenantId && rule.shard === shard,
      );
      if (own && adoptOnTaken) return { arn: own.arn, priority: own.priority, targetGroupArn: own.targetGroupArn };
      let priority = 1;
      const taken = new Set([...this.rules.values()].filter((rule) => rule.shard === shard).map((rule) => rule.priority));
      while (taken.has(priority)) priority += 1;
      this.sequence += 1;
      const rule = {
        arn: `arn:aws:elasticloadbalancing:rule/${this.sequence}`,
        priority,
        targetGroupArn,
        host: host.toLowerCase(),
        tenantId,
        shard,
      };
      this.rules.set(rule.arn, rule);
      return { arn: rule.arn, priority, targetGroupArn };
    });
  }

  deleteRule(ruleArn: string): Promise<void> {
    return this.call('DeleteRule', () => {
      this.rules.delete(ruleArn);
    });
  }

  // ---- Inventory, for drift repair ----------------------------------------------------------

  /** Tasks ECS lists as desired RUNNING, as `EcsCompute.allTenantTasks` does. */
  allTenantTasks(): Promise<ObservedTask[]> {
    return this.call('ListTasks', () =>
      [...this.tasks.values()].filter((task) => task.desiredStatus === 'RUNNING' && task.lastStatus !== 'STOPPED').map(snapshot),
    );
  }

  managedTargetGroups(): Promise<Array<{ arn: string; tenantId: string }>> {
    return this.call('DescribeTargetGroups', () => [...this.targetGroups].map(([arn, group]) => ({ arn, tenantId: group.tenantId })));
  }

  managedRules(): Promise<Array<HostRule & { tenantId: string }>> {
    return this.call('DescribeRules', () =>
      [...this.rules.values()].map(({ arn, priority, targetGroupArn, tenantId }) => ({ arn, priority, targetGroupArn, tenantId })),
    );
  }

  // ---- The world moving ---------------------------------------------------------------------

  /** One tick: tasks move one lifecycle step, registered targets pass or fail health checks. */
  tick(): void {
    for (const task of this.tasks.values()) {
      task.age += 1;
      if (task.lastStatus === 'STOPPED' || --task.ticks > 0) continue;
      task.ticks = 1;
      if (task.desiredStatus === 'STOPPED') {
        task.lastStatus = 'STOPPED';
        if (this.now && task.startedAt) task.stoppedAt = this.now().toISOString();
        this.unregisterEverywhere(task);
      } else if (task.lastStatus === 'PROVISIONING') {
        task.lastStatus = 'PENDING';
        task.ip = `10.0.${Math.floor(this.sequence / 250)}.${(this.sequence % 250) + 1}`;
        this.sequence += 1;
      } else if (task.lastStatus === 'PENDING') {
        task.lastStatus = 'RUNNING';
        if (this.now) task.startedAt = this.now().toISOString();
        const crash = this.crashLoop.get(task.tenantId);
        if (crash) this.exit(task, crash.containerReason, crash.exitCode);
      } else {
        continue;
      }
      this.emit(task);
    }
    for (const group of this.targetGroups.values()) {
      for (const target of group.targets.values()) {
        if (target.health !== 'initial' || --target.ticks > 0) continue;
        const task = [...this.tasks.values()].find((candidate) => candidate.ip === target.ip);
        const failing = this.failingHealthChecks.get(group.tenantId);
        target.health = task && task.lastStatus === 'RUNNING' && !failing ? 'healthy' : 'unhealthy';
        if (failing) target.reason = failing;
      }
    }
  }

  /** The task's container exits by itself (crash, failed image pull). */
  exit(task: FakeTask, containerReason: string, exitCode?: number): void {
    task.desiredStatus = 'STOPPED';
    task.lastStatus = 'STOPPED';
    task.stopCode = 'EssentialContainerExited';
    task.stoppedReason = 'Essential container in task exited';
    task.containerReason = containerReason;
    if (this.now && task.startedAt) task.stoppedAt = this.now().toISOString();
    if (exitCode !== undefined) task.exitCode = exitCode;
    this.unregisterEverywhere(task);
    this.emit(task);
  }

  /** AWS gives two minutes' notice before taking a Spot task away. */
  interrupt(task: FakeTask): void {
    task.stopCode = 'TerminationNotice';
    task.desiredStatus = 'STOPPED';
    task.stoppedReason = 'Your Spot Task was interrupted.';
    task.ticks = 6;
    this.emit(task);
  }

  private unregisterEverywhere(task: FakeTask): void {
    if (!task.ip) return;
    for (const group of this.targetGroups.values()) {
      const target = group.targets.get(task.ip);
      if (target) target.health = 'unhealthy';
    }
  }

  /** Tasks that have the tenant's data mounted: started with it and not STOPPED yet (a stopping task still writes). */
  mountedTasksOf(tenantId: string): FakeTask[] {
    return [...this.tasks.values()].filter(
      (task) => task.tenantId === tenantId && task.volume !== undefined && task.lastStatus !== 'STOPPED',
    );
  }

  /** Every task the tenant has had, stopped ones included. */
  tasksOf(tenantId: string): FakeTask[] {
    return [...this.tasks.values()].filter((task) => task.tenantId === tenantId);
  }

  liveTasksOf(tenantId: string): FakeTask[] {
    return [...this.tasks.values()].filter(
      (task) => task.tenantId === tenantId && task.lastStatus !== 'STOPPED' && task.desiredStatus === 'RUNNING',
    );
  }
}

export function tgArn(tenantId: string): string {
  return `arn:aws:elasticloadbalancing:targetgroup/dm-${tenantId}`;
}

/**
 * Each tenant's persistent data as the Storage port sees it: a directory that exists or not.
 * Removing it while a task still has it mounted is what invariant 6 forbids, so it is recorded
 * as a violation rather than done quietly.
 */
export class FakeStorage implements Pick<Storage, 'dataBytes'>, StorageInventory {
  /** Tenants whose data exists. */
  readonly tenants = new Set<string>();
  /** Removals made while a task of the tenant still had the data mounted. */
  readonly removedWhileMounted: string[] = [];

  /** The plan each tenant's data was last made ready for (on AWS, the base of its task definition). */
  readonly plans = new Map<string, string | undefined>();

  constructor(private readonly cloud: FakeCloud) {}

  ensure(tenantId: string, options: { plan?: string } = {}): Promise<string> {
    return this.cloud.call('EnsureStorage', () => {
      this.tenants.add(tenantId);
      this.plans.set(tenantId, options.plan);
      return `data/tenants/${tenantId}`;
    });
  }

  remove(tenantId: string): Promise<void> {
    return this.cloud.call('RemoveStorage', () => {
      if (this.cloud.mountedTasksOf(tenantId).length > 0) this.removedWhileMounted.push(tenantId);
      this.tenants.delete(tenantId);
    });
  }

  managedTenants(): Promise<string[]> {
    return this.cloud.call('ListStorage', () => [...this.tenants].sort());
  }

  /** Bytes each tenant's data takes, as a test sets them. */
  readonly sizes = new Map<string, number>();

  dataBytes(tenantId: string): Promise<DataSize> {
    return this.cloud.call('MeasureStorage', () => ({ bytes: this.sizes.get(tenantId) ?? 0 }));
  }
}

function snapshot(task: FakeTask): ObservedTask {
  const { clientToken: _token, ticks: _ticks, age: _age, volume: _volume, ...observed } = task;
  return { ...observed };
}
