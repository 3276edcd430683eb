import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The bytes of the regular files under `dir`, as a tenant's metered storage counts them; 0 when
 * it does not exist. Links are not followed, so nothing outside the tenant's tree is counted.
 */
export async function directoryBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let bytes = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += await directoryBytes(path);
    else if (entry.isFile()) bytes += (await lstat(path)).size;
  }
  return bytes;
}
