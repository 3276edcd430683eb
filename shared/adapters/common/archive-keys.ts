/**
 * Where tenant archives live in the installation's archive bucket: `exports/<tenant>/<id>.tar.gz`
 * for an export's download, `restores/<tenant>/<id>.tar.gz` for a restore's upload. The data
 * function takes nothing else, so it can never be pointed at another tenant's archive or at
 * another object of the bucket. The bucket's lifecycle expires both prefixes after a day.
 */

export type ArchiveKind = 'exports' | 'restores';

/** An upload's or export's id: what `randomUUID` makes, and nothing that could add a path segment. */
const ARCHIVE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function archiveKey(kind: ArchiveKind, tenantId: string, id: string): string {
  return `${kind}/${tenantId}/${id}.tar.gz`;
}

export function isArchiveId(id: string): boolean {
  return ARCHIVE_ID.test(id);
}

/** Whether `key` is exactly an archive of `kind` of `tenantId`. */
export function isArchiveKeyOf(key: string, kind: ArchiveKind, tenantId: string): boolean {
  const prefix = `${kind}/${tenantId}/`;
  if (!key.startsWith(prefix) || !key.endsWith('.tar.gz')) return false;
  return isArchiveId(key.slice(prefix.length, -'.tar.gz'.length));
}
