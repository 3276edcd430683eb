import type { TenantChange } from '../domain/domain-events.js';
import { endsTimeline, timelineEntryFor } from '../domain/timeline.js';
import type { TimelineStore } from '../ports/timeline.js';

export interface RecordTimelineDeps {
  timeline: TimelineStore;
}

/**
 * Adds each change's transition to its tenant's timeline, in stream order, and removes the
 * timeline of a tenant that is deleted. Safe to run again on the same changes: a redelivered
 * change is recognised by its record version and not added twice.
 */
export async function recordTimeline({ timeline }: RecordTimelineDeps, changes: TenantChange[]): Promise<{ entries: number }> {
  let entries = 0;
  for (const change of changes) {
    const tenantId = (change.after ?? change.before)?.id;
    if (!tenantId) continue;
    if (endsTimeline(change)) {
      await timeline.remove(tenantId);
      continue;
    }
    const entry = timelineEntryFor(change);
    if (entry && (await timeline.append(tenantId, entry))) entries++;
  }
  return { entries };
}
