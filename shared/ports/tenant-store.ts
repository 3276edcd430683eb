import type { Phase, Tenant } from '../domain/tenant.js';

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Absent on the last page. */
  cursor?: string;
}

export interface ListQuery {
  phase?: Phase;
  limit: number;
  cursor?: string;
}

export interface CreateLimits {
  /** Ceiling on live tenants in total, enforced in the same transaction as the create. */
  maxTenants: number;
}

export interface SaveOptions {
  /**
   * Frees the tenant's email claim and its slot under the tenant ceiling in the same
   * transaction, for the write that asks for deletion.
   */
  releaseClaims?: boolean;
  /**
   * Takes or gives back one of a shard's routing slots (shard 0 unless said) in the same
   * transaction as the write that flips `status.slot`. A claim beyond `maxActiveTenants` on that
   * shard throws SlotsFullError.
   */
  routingSlot?: { claim: true; maxActiveTenants: number; shard?: number } | { claim: false; shard?: number };
  /**
   * Confirms a PendingVerification signup in the same write: takes its place under the ceiling
   * (TenantCeilingError past `maxTenants`) and makes its email claim permanent.
   */
  admit?: { maxTenants: number };
}

export interface ReadOptions {
  /**
   * False for an eventually consistent read: half the cost, but it may miss a write of the
   * last second or so. For readers that only decide on a conditional write, which catches that.
   * @default true
   */
  consistent?: boolean;
}

export interface TenantReader {
  get(id: string, options?: ReadOptions): Promise<Tenant | undefined>;
}

export interface TenantWriter {
  /**
   * Writes a tenant that must not exist yet, claims its email and takes a slot under the
   * ceiling, atomically. Throws SlugTakenError, EmailInUseError or TenantCeilingError.
   */
  create(tenant: Tenant, limits: CreateLimits): Promise<Tenant>;
  /**
   * Writes the tenant if its stored version is still `tenant.version`, and returns it with the
   * new version. Throws VersionConflictError otherwise: the caller re-reads and decides again.
   */
  save(tenant: Tenant, options?: SaveOptions): Promise<Tenant>;
}

export interface PendingSignups {
  /** Removes a PendingVerification signup and its email claim, if still at `tenant.version`. */
  discardPending(tenant: Tenant): Promise<void>;
}

export interface TenantLister {
  list(query: ListQuery): Promise<Page<Tenant>>;
}

export type TenantStore = TenantReader & TenantWriter & TenantLister;

export interface PageQuery {
  limit: number;
  cursor?: string;
}

/** The sparse index of tenants that have, or are getting, a task: what the sweep reads. */
export interface ActiveTenantLister {
  listActive(query: PageQuery): Promise<Page<Tenant>>;
}

export interface TrialLister {
  listTrialsEndingBefore(time: string, query: PageQuery): Promise<Page<Tenant>>;
}

/** The sparse index of sleeping tenants with keep-warm hours, by when those hours begin next (`warmAt`). */
export interface WarmLister {
  listWarmDue(time: string, query: PageQuery): Promise<Page<Tenant>>;
}

export interface RoutingSlots {
  /** Routing slots held on one shard (shard 0 unless said). */
  countRoutingSlots(shard?: number): Promise<number>;
  /** Routing slots held on each of `shards` shards, in shard order, read in one call. */
  routingSlotsByShard(shards: number): Promise<number[]>;
  countQueuedBefore(queuedAt: string): Promise<number>;
}

/** Where a paged background job left off, so the next run continues there. */
export interface Markers {
  getMarker(name: string): Promise<string | undefined>;
  setMarker(name: string, value: string | undefined): Promise<void>;
}
