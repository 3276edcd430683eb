import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { slugProblem } from '../domain/slug.js';

/**
 * Where the cleaner function mounts the EFS access point rooted at `/tenants`: every tenant's
 * directory is `<this>/<tenant>`. Lambda mounts file systems under /mnt only.
 */
export const TENANTS_MOUNT_PATH = '/mnt/tenants';

/** The one request the cleaner takes: the tenant whose files go. */
const CleanRequestSchema = z.strictObject({ tenantId: z.string() });

export interface CleanResult {
  removed: true;
}

/**
 * Removes one tenant's files: `<root>/<tenantId>`, recursively. The id must be a slug, so it
 * names exactly one directory directly under `root` (no `/`, no `..`, no empty name) and can
 * never reach another tenant's directory or `root` itself. A tenant without a directory (never
 * started, or removed by an earlier attempt) is fine: removing is safe to repeat. Anything else
 * (a malformed request, a file system error) throws, so the caller retries.
 */
export function createCleanTenantDataHandler(root: string) {
  return async (event: unknown): Promise<CleanResult> => {
    const parsed = CleanRequestSchema.safeParse(event);
    if (!parsed.success) throw new Error('Expected {"tenantId": "<tenant id>"} and nothing else');
    const { tenantId } = parsed.data;
    const problem = slugProblem(tenantId);
    if (problem) throw new Error(`Refusing to clean "${tenantId}": a tenant id ${problem}`);
    await rm(join(root, tenantId), { recursive: true, force: true });
    return { removed: true };
  };
}
