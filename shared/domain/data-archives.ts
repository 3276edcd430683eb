import type { Tenant } from './tenant.js';

/**
 * The limits of a tenant's data export and restore, the same on AWS and in embedded mode: the
 * links, the archives a restore accepts and how long a restore may hold the tenant.
 */
export const ARCHIVE_LIMITS = {
  /** An export's download link and a restore's upload link work this long. */
  linkTtlMs: 3_600_000,
  /** A restored archive unpacks to at most this many bytes of files. */
  maxUnpackedBytes: 1_073_741_824,
  /** Files and directories in a restored archive. */
  maxEntries: 100_000,
  /**
   * An uploaded `.tar.gz` as sent. A little more than the unpacked limit: incompressible files
   * grow slightly in gzip, and tar adds a 512-byte header to each entry.
   */
  maxUploadBytes: 1_073_741_824 + 100_000 * 1_024,
  /**
   * How long a restore holds the tenant's lease, so no wake can start a task on half-restored
   * data: the data function's 15 minutes and a margin for the checks and the invocation around
   * it. A restore that died lets go on its own once this is over.
   */
  restoreMs: 20 * 60_000,
  /**
   * Exports of one tenant in an hour. Each packs the whole directory in a function that goes on
   * after the API has answered, so a token holder calling in a loop is stopped here.
   */
  exportsPerHour: 6,
} as const;

/** An upload id as both adapters issue it: 16 to 64 letters, digits, `-` and `_` (a UUID, say). */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * No task of the tenant runs or may still have its data mounted, and none is asked for: it was
 * passivated and got there, or it failed and holds no task.
 */
export function asleepForRestore(tenant: Tenant): boolean {
  const { status, spec } = tenant;
  if (status.task !== undefined || (status.stopping?.length ?? 0) > 0) return false;
  return (spec.desired === 'passivated' && status.phase === 'Passivated') || status.phase === 'Failed';
}
