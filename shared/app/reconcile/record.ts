import { isStopped, liveTasks, type Observation, type Step } from '../../domain/plan.js';
import type { Phase, TaskStatus, Tenant, TenantStatus } from '../../domain/tenant.js';
import type { ObservedTask } from '../../ports/compute.js';
import type { ReconcileResult } from '../controller.js';

/** Actual state as observed, with the bookkeeping that observation cannot show carried over. */
export function settle(tenant: Tenant, observed: Observation, phase: Phase, step: Step, now: Date): TenantStatus {
  const previous = tenant.status;
  const live = liveTasks(observed.tasks);
  const recorded = observed.tasks.find((candidate) => candidate.arn === previous.task?.arn);
  // The serving task, or an interrupted one that still serves until its replacement does.
  const keptTask = live.find((candidate) => candidate === recorded) ?? live[0] ?? (recorded && !isStopped(recorded) ? recorded : undefined);
  // Followed by ARN until seen STOPPED (or forgotten by ECS), the recorded task too if another takes its place.
  const displaced = recorded && recorded !== keptTask ? [recorded.arn] : [];
  const stopping = [...(previous.stopping ?? []), ...displaced].filter((arn) =>
    observed.tasks.some((candidate) => candidate.arn === arn && !isStopped(candidate)),
  );
  const status: TenantStatus = {
    ...previous,
    phase,
    task: keptTask ? taskStatus(keptTask, previous.task) : undefined,
    stopping: stopping.length > 0 ? stopping : undefined,
    targetGroupArn: observed.targetGroupArn,
    ruleArn: observed.rule?.arn,
    rulePriority: observed.rule?.priority,
    ruleCreating: observed.rule ? undefined : previous.ruleCreating,
    transitionAt: phase === previous.phase ? previous.transitionAt : now.toISOString(),
  };
  // Said while waiting, so whoever looks at a tenant that does not serve learns why.
  if (step.kind === 'wait' && step.problem) status.lastError = step.problem;
  if (step.kind === 'done') {
    status.observedGeneration = tenant.spec.generation;
    status.lastError = undefined;
    status.lastErrorCategory = undefined;
    status.retryAt = undefined;
    status.queuedAt = undefined;
    status.transientFailures = undefined;
    status.launch = undefined;
    if (phase === 'Running') {
      status.attempts = 0;
      status.spotFailures = undefined;
    }
  }
  return status;
}

/**
 * The task as recorded. While it is the same task, a task event's version is kept, and so are
 * what it was started as and when (ECS task events carry no tags, so they cannot say).
 */
export function taskStatus(task: ObservedTask, previous: TaskStatus | undefined): TaskStatus {
  const same = previous?.arn === task.arn ? previous : undefined;
  const eventVersion = same?.eventVersion;
  const launchedAs = task.launchedAs ?? same?.launchedAs;
  const startedAt = task.startedAt ?? same?.startedAt;
  const size = task.size ?? same?.size;
  // Only ECS's own word (an event, a RunTask or StopTask answer) dates the record, not a look.
  const seenAt = same?.seenAt;
  return {
    arn: task.arn,
    capacityProvider: task.capacityProvider,
    lastStatus: task.lastStatus,
    ...(task.ip ? { ip: task.ip } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(eventVersion !== undefined ? { eventVersion } : {}),
    ...(launchedAs ? { launchedAs } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
    ...(size ? { size } : {}),
    ...(task.desiredStatus === 'STOPPED' ? { desiredStatus: 'STOPPED' as const } : {}),
    ...(seenAt ? { seenAt } : {}),
  };
}

/** When to look again after a plan that takes no step: when it waits a known time, else on the next event. */
export function result(step: Step, phase: Phase): ReconcileResult {
  return step.kind === 'wait' && step.afterMs !== undefined ? { requeueAfterMs: step.afterMs, phase } : { phase };
}
