import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import * as z from 'zod';
import { ArchiveRejectedError } from '../../domain/errors.js';
import { slugProblem } from '../../domain/slug.js';
import type { DataSize } from '../../ports/storage.js';
import { isArchiveId, isArchiveKeyOf, type ArchiveKind } from '../common/archive-keys.js';
import { directorySize } from '../common/directory-size.js';
import {
  packTenantData,
  previousOf,
  recoverSwap,
  replaceDirectory,
  unpackTenantData,
  type UnpackLimits,
} from '../common/tenant-archive.js';

/**
 * Where the data function mounts the EFS access point rooted at `/tenants`: every tenant's
 * directory is `<this>/<tenant>`. Lambda mounts file systems under /mnt only.
 */
export const TENANTS_MOUNT_PATH = '/mnt/tenants';

/**
 * What the tenant data function does, one tenant at a time. `{tenantId}` alone means remove: it is
 * what the reconciler has always sent.
 */
const RequestSchema = z.union([
  z.strictObject({ action: z.literal('remove').optional(), tenantId: z.string() }),
  z.strictObject({ action: z.literal('size'), tenantId: z.string() }),
  z.strictObject({ action: z.enum(['export', 'restore']), tenantId: z.string(), key: z.string() }),
]);
const REQUEST_FORMS =
  '{"tenantId"}, {"action": "remove", "tenantId"}, {"action": "size", "tenantId"}, {"action": "export", "tenantId", "key"} or {"action": "restore", "tenantId", "key"}';

export type TenantDataRequest = z.infer<typeof RequestSchema>;

/**
 * The answers. An archive that is refused, or an upload that is not there, is an answer rather
 * than a failure of the function: the API turns it into a 400 or a 404, and Lambda's error
 * metrics keep counting only what an operator must look at.
 */
export type TenantDataResult =
  { removed: true } | DataSize | { files: number; bytes: number } | { error: 'ArchiveRejected' | 'NotFound'; message: string };

export interface TenantDataOptions {
  /** The mount of `/tenants`. */
  root: string;
  /** The installation's archive bucket; without it only `remove` is done. */
  archives?: { s3: S3Client; bucket: string; limits: UnpackLimits };
}

/**
 * Removes, measures, exports or restores one tenant's files under `root`. The id must be a slug, so it names
 * exactly one directory directly under `root` (no `/`, no `..`, no empty name) and can never reach
 * another tenant's directory or `root` itself; the key must be this tenant's archive of the
 * action's kind. Removing a tenant without a directory is fine (removal is safe to repeat).
 * Anything else (a malformed request, a file system or S3 error) throws, so the caller retries.
 */
export function createTenantDataHandler({ root, archives }: TenantDataOptions) {
  return async (event: unknown): Promise<TenantDataResult> => {
    const parsed = RequestSchema.safeParse(event);
    if (!parsed.success) throw new Error(`Expected ${REQUEST_FORMS} and nothing else`);
    const request = parsed.data;
    const { tenantId } = request;
    const problem = slugProblem(tenantId);
    if (problem) throw new Error(`Refusing to touch the data of "${tenantId}": a tenant id ${problem}`);
    const dir = join(root, tenantId);
    // Read only, for the tenant's metered storage: what its files take now (bounded, see SIZE_WALK_LIMITS).
    if (request.action === 'size') return directorySize(dir);
    if (!('key' in request)) {
      await rm(dir, { recursive: true, force: true });
      await rm(previousOf(dir), { recursive: true, force: true });
      // What a restore cut short (by the function's timeout) left beside the tenant's directory.
      for (const name of await readdir(root)) {
        if (isStagedRestoreOf(name, tenantId)) await rm(join(root, name), { recursive: true, force: true });
      }
      return { removed: true };
    }
    const kind: ArchiveKind = request.action === 'export' ? 'exports' : 'restores';
    if (!isArchiveKeyOf(request.key, kind, tenantId)) {
      throw new Error(`Refusing ${request.action} of "${tenantId}" with key "${request.key}": expected ${kind}/${tenantId}/<uuid>.tar.gz`);
    }
    if (!archives) throw new Error(`Cannot ${request.action}: this function has no archive bucket`);
    // A restore this function could not finish (its timeout between the swap's two renames) left
    // the old data aside: it goes back before anything reads or replaces the directory.
    await recoverSwap(dir);
    return request.action === 'export' ? exportTenant(dir, request.key, archives) : restoreTenant(root, tenantId, request.key, archives);
  };
}

/** Streams the tenant's directory, packed, to the bucket: nothing is held whole in memory or on /tmp. */
async function exportTenant(dir: string, key: string, { s3, bucket }: NonNullable<TenantDataOptions['archives']>) {
  // A tenant that never started has no directory yet: its export is an empty archive.
  const empty = (await exists(dir)) ? undefined : await mkdtemp(join(tmpdir(), 'dormouse-empty-'));
  try {
    let bytes = 0;
    const body = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    const packed = packTenantData(empty ?? dir);
    packed.on('error', (error) => body.destroy(error));
    packed.pipe(body);
    await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: body, ContentType: 'application/gzip' } }).done();
    return { bytes };
  } finally {
    if (empty) await rm(empty, { recursive: true, force: true });
  }
}

/**
 * Unpacks the uploaded archive beside the tenant's directory (on the same file system, so the
 * swap is two renames) and puts it in its place only once all of it is in.
 */
async function restoreTenant(
  root: string,
  tenantId: string,
  key: string,
  { s3, bucket, limits }: NonNullable<TenantDataOptions['archives']>,
) {
  let body: Readable;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = object.Body as Readable;
  } catch (error) {
    if (error instanceof NoSuchKey)
      return { error: 'NotFound' as const, message: `Nothing was uploaded for tenant "${tenantId}" under that id.` };
    throw error;
  }
  const staged = join(root, stagedRestoreName(tenantId));
  try {
    const counts = await unpackTenantData(body, staged, limits);
    await replaceDirectory(join(root, tenantId), staged);
    return counts;
  } catch (error) {
    await rm(staged, { recursive: true, force: true });
    if (error instanceof ArchiveRejectedError) return { error: 'ArchiveRejected' as const, message: error.message };
    throw error;
  }
}

/** Never a tenant's name: tenant ids start with a letter. */
function stagedRestoreName(tenantId: string): string {
  return `.restore-${tenantId}-${randomUUID()}`;
}

/** `.restore-<tenant>-<uuid>` or its `.previous`, of exactly this tenant (not of `<tenant>-more`). */
function isStagedRestoreOf(name: string, tenantId: string): boolean {
  const prefix = `.restore-${tenantId}-`;
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length).replace(/\.previous$/, '');
  return isArchiveId(rest);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}
