import type { TimelineEntry } from '../domain/timeline.js';

/** Where tenants' timelines are kept: a bounded number of entries per tenant. */
export interface TimelineStore {
  /**
   * Adds `entry` as the tenant's newest, unless an entry of the same or a later record version is
   * already there (a redelivered or late change). Returns whether it was added.
   */
  append(tenantId: string, entry: TimelineEntry): Promise<boolean>;
  /** The tenant's entries, oldest first: at most the newest `TIMELINE_LENGTH`. */
  read(tenantId: string): Promise<TimelineEntry[]>;
  /** Removes the tenant's timeline; nothing to remove is fine. */
  remove(tenantId: string): Promise<void>;
}
