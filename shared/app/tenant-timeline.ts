import type { Tenant } from '../domain/tenant.js';
import type { TimelineEntry } from '../domain/timeline.js';
import type { TimelineStore } from '../ports/timeline.js';

/**
 * The tenant's own timeline. A slug can be taken again once its tenant is deleted; should the
 * removal of the old timeline have been missed, its entries (and the task ids that find that
 * tenant's logs) belong to someone else until the new tenant's first entry replaces them.
 */
export async function timelineOf(timeline: Pick<TimelineStore, 'read'>, tenant: Tenant): Promise<TimelineEntry[]> {
  return (await timeline.read(tenant.id)).filter((entry) => entry.createdAt === tenant.createdAt);
}
