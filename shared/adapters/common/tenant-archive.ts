import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create, extract } from 'tar';
import { ArchiveRejectedError } from '../../domain/errors.js';

/**
 * A tenant's data as a `.tar.gz`: packed from its directory for an export, unpacked into a fresh
 * directory for a restore. The same code runs in embedded mode and in the function that reaches
 * the tenants' file system on AWS.
 */

export interface UnpackLimits {
  /** Total size of the files in the archive, unpacked. */
  maxBytes: number;
  maxEntries: number;
}

/** The directory's contents, paths relative to it, with no owner names or ids (they mean nothing elsewhere). */
export function packTenantData(dir: string): Readable {
  return create({ gzip: true, cwd: dir, portable: true }, ['.']) as unknown as Readable;
}

/**
 * Unpacks `archive` into `dir`, which must not exist yet. Only regular files and directories
 * inside `dir` are accepted: an absolute path, `..`, a link or a device anywhere refuses the whole
 * archive, as does more than `limits` allow, and nothing of it is left behind. A half-restored
 * tenant would be worse than either its old data or the new.
 */
export async function unpackTenantData(archive: Readable, dir: string, limits: UnpackLimits): Promise<{ files: number; bytes: number }> {
  await mkdir(dir, { mode: 0o700 });
  let problem: string | undefined;
  let files = 0;
  let bytes = 0;
  let entries = 0;
  const refuse = (reason: string) => {
    problem ??= reason;
    return false;
  };
  try {
    await pipeline(
      archive,
      extract({
        cwd: dir,
        strict: true,
        // Root in the function that runs this on AWS: files belong to whoever unpacks them.
        preserveOwner: false,
        filter: (path, entry) => {
          if (problem) return false;
          if (++entries > limits.maxEntries) return refuse(`it holds more than ${limits.maxEntries} entries`);
          if (path.startsWith('/') || path.split('/').includes('..'))
            return refuse(`it names a path outside the tenant's directory (${path})`);
          const type = 'type' in entry ? entry.type : undefined;
          if (type === 'Directory') return true;
          if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile')
            return refuse(`${path} is a ${type ?? 'special file'}; only files and directories are restored`);
          bytes += entry.size ?? 0;
          if (bytes > limits.maxBytes) return refuse(`it unpacks to more than ${Math.floor(limits.maxBytes / 1_048_576)} MiB`);
          files += 1;
          return true;
        },
      }),
    );
  } catch (error) {
    problem ??= `it is not a readable .tar.gz (${(error as Error).message})`;
  }
  if (problem) {
    await rm(dir, { recursive: true, force: true });
    throw new ArchiveRejectedError(`The archive was not restored: ${problem}.`);
  }
  return { files, bytes };
}

/** Where a swap keeps the old directory until the new one is in place: never a slug, so never a tenant's. */
export function previousOf(target: string): string {
  return join(dirname(target), `.previous-${basename(target)}`);
}

/**
 * Puts `staged` in the place of `target` with two renames on one file system: a reader sees the
 * old data or the new. A crash between the renames leaves the old data at `previousOf(target)`
 * and no `target`: `recoverSwap` puts it back.
 */
export async function replaceDirectory(target: string, staged: string): Promise<void> {
  const previous = previousOf(target);
  await rm(previous, { recursive: true, force: true });
  await rename(target, previous).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await rename(staged, target);
  await rm(previous, { recursive: true, force: true });
}

/** Undoes a swap cut short between its renames: the old data goes back where it was. */
export async function recoverSwap(target: string): Promise<void> {
  await rename(previousOf(target), target).catch((error: NodeJS.ErrnoException) => {
    // Nothing to recover (no previous), or nothing lost (the target is there).
    if (error.code !== 'ENOENT' && error.code !== 'EEXIST' && error.code !== 'ENOTEMPTY') throw error;
  });
}
