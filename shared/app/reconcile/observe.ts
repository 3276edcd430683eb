import { TargetGroupNotFoundError } from '../../domain/errors.js';
import { hasStarted, liveTasks, type Observation } from '../../domain/plan.js';
import { shardOf, type Tenant } from '../../domain/tenant.js';
import type { ObservedTask, TaskLastStatus } from '../../ports/compute.js';
import type { ReconcileDeps } from '../reconcile.js';

/**
 * How long what ECS last said about the recorded task (an event, a RunTask or StopTask answer)
 * stands for asking again. Past it, or when an event never came, a look asks ECS and the load
 * balancer everything: the safety net for events that are lost or late.
 */
export const EVENT_TRUST_MS = 60_000;

/**
 * What exists for this tenant. While ECS's events follow the recorded task, the record says it
 * (a followed look): no ECS call, and the load balancer is asked only for the target's health.
 * Otherwise tasks come from ECS and target group and rule from the load balancer.
 */
export async function observe(deps: ReconcileDeps, tenant: Tenant, followed?: ObservedTask): Promise<Observation> {
  if (followed) return { tasks: [followed], ...(await recordedRouting(deps, tenant, followed)) };
  // Outgoing tasks are still metered: they are looked at by ARN until seen STOPPED or gone.
  const outgoing = (tenant.usage?.meter?.outgoing ?? []).map((leaving) => leaving.task);
  const known = [...new Set([tenant.status.task?.arn, ...(tenant.status.stopping ?? []), ...outgoing])].filter((arn): arn is string =>
    Boolean(arn),
  );
  if (!mayBeRouted(tenant)) {
    // On its way up with nothing recorded on the load balancer: its target group, target and
    // rule all come after a task runs, so until one does the load balancer cannot change the
    // plan and is not asked (ELBv2's Describe* calls are rate-limited per account). Anything made
    // there but not recorded (a crash between a create and its write) is adopted when the plan
    // makes it again (see observeRouting).
    const tasks = await deps.compute.tenantTasks(tenant.id, known);
    const started = liveTasks(tasks).some(hasStarted);
    return started ? { tasks, ...(await observeRouting(deps, tenant)) } : { tasks, targets: [] };
  }
  const [tasks, routing] = await Promise.all([deps.compute.tenantTasks(tenant.id, known), observeRouting(deps, tenant)]);
  return { tasks, ...routing };
}

/**
 * The recorded task as ECS last reported it, when the record can stand for asking ECS: the
 * report is recent, and the record knows every task the tenant may have (no RunTask whose answer
 * is unrecorded, no other task followed by its ARN). A task that stopped while the tenant should
 * run is looked up, since why it stopped is not recorded.
 */
export function followedTask(tenant: Tenant, now: Date, trustMs: number): ObservedTask | undefined {
  const { task, launch, stopping = [] } = tenant.status;
  if (!task?.seenAt || launch || stopping.length > 0 || (tenant.usage?.meter?.outgoing?.length ?? 0) > 0) return undefined;
  const age = now.getTime() - Date.parse(task.seenAt);
  if (!(age >= 0 && age < trustMs)) return undefined;
  if (task.lastStatus === 'STOPPED' && isRising(tenant)) return undefined;
  return {
    arn: task.arn,
    tenantId: tenant.id,
    lastStatus: (task.lastStatus ?? 'PROVISIONING') as TaskLastStatus,
    desiredStatus: task.desiredStatus ?? 'RUNNING',
    capacityProvider: task.capacityProvider,
    ...(task.ip ? { ip: task.ip } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(task.startedAt ? { startedAt: task.startedAt } : {}),
    ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
    ...(task.launchedAs ? { launchedAs: task.launchedAs } : {}),
    ...(task.size ? { size: task.size } : {}),
  };
}

/** On its way up: it should run and has not been given up on. */
export function isRising({ spec, status }: Tenant): boolean {
  return spec.desired === 'running' && status.failedGeneration !== spec.generation;
}

/** Whether the load balancer may hold something the plan must see before a task runs. */
function mayBeRouted(tenant: Tenant): boolean {
  return !isRising(tenant) || tenant.status.targetGroupArn !== undefined || tenant.status.ruleArn !== undefined;
}

/**
 * Target group and rule as recorded (each was recorded when it was made or found). Nothing
 * unrecorded is searched for: on the way up, making a target group or rule adopts one that
 * exists; on the way down, the last look before the tenant is recorded asleep or deleted asks
 * the load balancer itself. Only a rising tenant's target health is read: it decides whether the
 * tenant serves.
 */
async function recordedRouting({ routing }: ReconcileDeps, tenant: Tenant, task: ObservedTask): Promise<Omit<Observation, 'tasks'>> {
  const { targetGroupArn, ruleArn, rulePriority } = tenant.status;
  const rule = ruleArn && targetGroupArn ? { rule: { arn: ruleArn, priority: rulePriority ?? 0, targetGroupArn } } : {};
  if (!targetGroupArn || !isRising(tenant) || !hasStarted(task))
    return { targets: [], ...(targetGroupArn ? { targetGroupArn } : {}), ...rule };
  try {
    return { targets: await routing.targets(targetGroupArn), targetGroupArn, ...rule };
  } catch (error) {
    if (!(error instanceof TargetGroupNotFoundError)) throw error;
    return { targets: [], ...rule };
  }
}

/**
 * Target group and rule: recorded ones by their ARN, unrecorded ones searched for only on the way
 * down. On the way up the plan makes what the record lacks, and making adopts what exists: a
 * target group by its name (CreateTargetGroup answers with it, its tags checked), a rule by its
 * host when its priority is taken (each tenant's rule is tried at the same priorities). Searching
 * the listener's rules (a page of 400 per Describe* call) and the target groups at every look past
 * the event window would spend ELB's account-wide Describe* budget on what the record knows.
 */
async function observeRouting({ routing, settings }: ReconcileDeps, tenant: Tenant): Promise<Omit<Observation, 'tasks'>> {
  const { ruleArn, rulePriority, targetGroupArn: recordedGroup } = tenant.status;
  const rising = isRising(tenant);
  // On the way down a recorded rule is deleted whether or not it is still there: no need to ask.
  const recordedRule = !rising && ruleArn ? { arn: ruleArn, priority: rulePriority ?? 0, targetGroupArn: recordedGroup ?? '' } : undefined;
  const [targetGroupArn, rule] = await Promise.all([
    recordedGroup ?? (rising ? undefined : routing.findTargetGroup(tenant.id)),
    recordedRule ?? (rising && !ruleArn ? undefined : routing.findRule(tenant.id, settings.hostFor(tenant.id), ruleArn, shardOf(tenant))),
  ]);
  let existing = targetGroupArn;
  let targets: Observation['targets'] = [];
  // Only a rising tenant's plan reads target health; on the way down a recorded group is deleted.
  if (existing && rising) {
    try {
      targets = await routing.targets(existing);
    } catch (error) {
      // The recorded target group is gone (deleted by hand, or a fresh local gateway): it
      // does not exist, and the plan creates it again if it is needed.
      if (!(error instanceof TargetGroupNotFoundError)) throw error;
      existing = undefined;
    }
  }
  return { targets, ...(existing ? { targetGroupArn: existing } : {}), ...(rule ? { rule } : {}) };
}
