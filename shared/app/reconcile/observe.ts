import { TargetGroupNotFoundError } from '../../domain/errors.js';
import { hasStarted, liveTasks, type Observation } from '../../domain/plan.js';
import { shardOf, type Tenant } from '../../domain/tenant.js';
import type { ReconcileDeps } from '../reconcile.js';

/** What exists for this tenant: tasks from ECS, target group and rule from the load balancer. */
export async function observe(deps: ReconcileDeps, tenant: Tenant): Promise<Observation> {
  // Outgoing tasks are still metered: they are looked at by ARN until seen STOPPED or gone.
  const outgoing = (tenant.usage?.meter?.outgoing ?? []).map((leaving) => leaving.task);
  const known = [...new Set([tenant.status.task?.arn, ...(tenant.status.stopping ?? []), ...outgoing])].filter((arn): arn is string =>
    Boolean(arn),
  );
  if (!mayBeRouted(tenant)) {
    // On its way up with nothing recorded on the load balancer: its target group, target and
    // rule all come after a task runs, so until one does the load balancer cannot change the
    // plan and is not asked (ELBv2's Describe* calls are rate-limited per account). Anything made
    // there but not recorded (a crash between a create and its write) is found at the first look
    // after the task runs.
    const tasks = await deps.compute.tenantTasks(tenant.id, known);
    const started = liveTasks(tasks).some(hasStarted);
    return started ? { tasks, ...(await observeRouting(deps, tenant)) } : { tasks, targets: [] };
  }
  const [tasks, routing] = await Promise.all([deps.compute.tenantTasks(tenant.id, known), observeRouting(deps, tenant)]);
  return { tasks, ...routing };
}

/** Whether the load balancer may hold something the plan must see before a task runs. */
function mayBeRouted(tenant: Tenant): boolean {
  const { spec, status } = tenant;
  const stopping = spec.desired !== 'running' || status.failedGeneration === spec.generation;
  return stopping || status.targetGroupArn !== undefined || status.ruleArn !== undefined;
}

async function observeRouting({ routing, settings }: ReconcileDeps, tenant: Tenant): Promise<Omit<Observation, 'tasks'>> {
  const [targetGroupArn, rule] = await Promise.all([
    tenant.status.targetGroupArn ?? routing.findTargetGroup(tenant.id),
    routing.findRule(tenant.id, settings.hostFor(tenant.id), tenant.status.ruleArn, shardOf(tenant)),
  ]);
  let existing = targetGroupArn;
  let targets: Observation['targets'] = [];
  if (existing) {
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
