import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ARCHIVE_LIMITS } from '../../domain/data-archives.js';
import type { DataSize } from '../../ports/storage.js';

/**
 * How far one measurement walks: on EFS each entry is a round trip, and the walk holds up the
 * passivation that asked for it. As many entries as a restore accepts, for a few seconds at most.
 */
export const SIZE_WALK_LIMITS: SizeWalkLimits = { maxEntries: ARCHIVE_LIMITS.maxEntries, maxMs: 5_000 };

export interface SizeWalkLimits {
  /** Files, directories and links looked at. */
  maxEntries: number;
  /** Time spent walking. */
  maxMs: number;
}

/**
 * The bytes of the regular files under `dir`, as a tenant's metered storage counts them; 0 when
 * it does not exist. Links are not followed, so nothing outside the tenant's tree is counted.
 * Past `limits` the walk stops and says the size is a lower bound: what it counted so far.
 */
export async function directorySize(dir: string, limits = SIZE_WALK_LIMITS, clock: () => number = Date.now): Promise<DataSize> {
  const deadline = clock() + limits.maxMs;
  const pending = [dir];
  let bytes = 0;
  let entriesSeen = 0;
  while (pending.length > 0) {
    const current = pending.pop()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (error) {
      // Gone (never made, or removed while it is measured): nothing there to count.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      if (++entriesSeen > limits.maxEntries || clock() > deadline) return { bytes, lowerBound: true };
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) bytes += (await lstat(path)).size;
    }
  }
  return { bytes };
}
