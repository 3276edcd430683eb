import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidSlug } from '../../domain/slug.js';
import type { DataSize, Storage, StorageInventory } from '../../ports/storage.js';
import { directorySize } from '../common/directory-size.js';
import { previousOf, recoverSwap } from '../common/tenant-archive.js';

/**
 * Each tenant's persistent data in embedded mode: `<root>/tenants/<tenant>`, handed to the
 * tenant's process as DATA_DIR. Readable by this user only (0700), like the data dir itself.
 */
export class DirectoryStorage implements Pick<Storage, 'dataBytes'>, StorageInventory {
  /** Where the tenants' directories are, one per tenant named by its slug. */
  readonly tenantsDir: string;

  constructor(root: string) {
    this.tenantsDir = join(root, 'tenants');
  }

  async ensure(tenantId: string): Promise<string> {
    const dir = this.dirFor(tenantId);
    // A restore cut short between its two renames (npm start killed) left the old data aside.
    await recoverSwap(dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async remove(tenantId: string): Promise<void> {
    const dir = this.dirFor(tenantId);
    await rm(dir, { recursive: true, force: true });
    await rm(previousOf(dir), { recursive: true, force: true });
  }

  async dataBytes(tenantId: string): Promise<DataSize> {
    return directorySize(this.dirFor(tenantId));
  }

  async managedTenants(): Promise<string[]> {
    const entries = await readdir(this.tenantsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    return entries.filter((entry) => entry.isDirectory() && isValidSlug(entry.name)).map((entry) => entry.name);
  }

  /** A tenant id is a slug, so it cannot climb out of the tenants directory; checked all the same. */
  dirFor(tenantId: string): string {
    if (!isValidSlug(tenantId)) throw new Error(`Not a tenant id: ${JSON.stringify(tenantId)}`);
    return join(this.tenantsDir, tenantId);
  }
}
