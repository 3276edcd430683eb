import type { Compute, ObservedTask } from './compute.js';
import type { HostRule, Routing } from './routing.js';

/**
 * What exists in AWS under Dormouse's tags, whoever's record it belongs to, for drift repair:
 * resources with no tenant behind them are removed, and tenants whose record disagrees with
 * them are reconciled.
 */
export interface TaskInventory extends Pick<Compute, 'stopTask'> {
  /** Every tenant task the platform runs (desired RUNNING). */
  allTenantTasks(): Promise<ObservedTask[]>;
}

export interface RoutingInventory extends Pick<Routing, 'deleteRule' | 'deleteTargetGroup'> {
  managedTargetGroups(): Promise<Array<{ arn: string; tenantId: string }>>;
  managedRules(): Promise<Array<HostRule & { tenantId: string }>>;
}
