/**
 * A tenant's own DNS record, when tenants are spread over several load balancers (shards): an
 * alias of `<slug>.<domain>` to the load balancer of the tenant's shard. With one shard a
 * wildcard record serves every tenant and no record of its own is made.
 */
export interface Dns {
  /**
   * Points the tenant's record at its shard's load balancer, creating or changing it: safe to
   * repeat. A record of that name that aliases something other than this installation's load
   * balancers is refused (ForeignResourceError).
   */
  ensureRecord(tenantId: string, shard: number): Promise<void>;
  /** Removes the tenant's record; safe to repeat, and for a tenant that has none. */
  removeRecord(tenantId: string): Promise<void>;
}
