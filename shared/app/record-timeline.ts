import type { TenantChange } from '../domain/domain-events.js';
import { endsTimeline, timelineEntryFor } from '../domain/timeline.js';
import type { TimelineStore } from '../ports/timeline.js';

export interface RecordTimelineDeps {
  timeline: TimelineStore;
  /**
   * A change whose entry could not be kept or removed (after the store's own retries): reported
   * here, and the other changes still recorded. Without it, the error is thrown.
   */
  onError?: (tenantId: string, error: unknown) => void;
}

/**
 * Adds each change's transition to its tenant's timeline, in stream order, and removes the
 * timeline of a tenant that is deleted. Safe to run again on the same changes: a redelivered
 * change is recognised by its record version and not added twice.
 */
export async function recordTimeline({ timeline, onError }: RecordTimelineDeps, changes: TenantChange[]): Promise<{ entries: number }> {
  let entries = 0;
  for (const change of changes) {
    const tenantId = (change.after ?? change.before)?.id;
    if (!tenantId) continue;
    try {
      if (endsTimeline(change)) {
        await timeline.remove(tenantId);
        continue;
      }
      const entry = timelineEntryFor(change);
      if (entry && (await timeline.append(tenantId, entry))) entries++;
    } catch (error) {
      if (!onError) throw error;
      onError(tenantId, error);
    }
  }
  return { entries };
}
