import type { HostRule, Target } from '../domain/route.js';

// The value types are the domain's; re-exported so that adapters find it with the port.
export type { HostRule, Target, TargetHealth } from '../domain/route.js';

/**
 * Host-based routing for tenants: one target group and one listener rule per active tenant.
 * A tenant without a rule falls through to the default action, the wake function.
 */
export interface Routing {
  /**
   * Creates the tenant's target group, or returns it when it exists: safe to repeat. A group of
   * that name tagged as another tenant's or installation's is refused (ForeignResourceError).
   */
  ensureTargetGroup(tenantId: string): Promise<string>;
  /** The tenant's target group by its name; refused like `ensureTargetGroup` when it is not the tenant's. */
  findTargetGroup(tenantId: string): Promise<string | undefined>;
  targets(targetGroupArn: string): Promise<Target[]>;
  registerTarget(targetGroupArn: string, ip: string): Promise<void>;
  deregisterTarget(targetGroupArn: string, ip: string): Promise<void>;
  deleteTargetGroup(targetGroupArn: string): Promise<void>;
  /**
   * The tenant's rule for its host. With `knownArn` (the rule the record names) that rule is
   * looked at first, in one call; the listener's rules are searched only when there is none or
   * it is gone, and a rule found that way is used only if its tags name this tenant and
   * installation (otherwise ForeignResourceError). The listener searched is the one of `shard`
   * (its routing shard; absent: 0).
   */
  findRule(tenantId: string, host: string, knownArn?: string, shard?: number): Promise<HostRule | undefined>;
  /**
   * Creates the host rule on the listener of `shard` (absent: 0) at a free priority, choosing
   * another when one is taken meanwhile. With `adoptOnTaken` (the default) a taken priority
   * first has the listener searched for the tenant's own rule for the host, which is adopted
   * (one made by an earlier call whose answer was lost: each tenant tries the same priorities).
   * A rule's ARN names its listener.
   */
  createRule(
    tenantId: string,
    host: string,
    targetGroupArn: string,
    shard?: number,
    options?: { adoptOnTaken?: boolean },
  ): Promise<HostRule>;
  deleteRule(ruleArn: string): Promise<void>;
}
