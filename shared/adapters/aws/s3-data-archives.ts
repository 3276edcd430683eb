import { randomUUID } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ArchiveRejectedError, NotFoundError } from '../../domain/errors.js';
import { ARCHIVE_LIMITS } from '../../domain/data-archives.js';
import type { TenantDataRequest, TenantDataResult } from './tenant-data-function.js';
import type { DataArchives, TimedLink } from '../../ports/storage.js';
import { archiveKey, isArchiveId } from '../common/archive-keys.js';

export interface S3DataArchivesOptions {
  s3Client?: S3Client;
  lambdaClient?: LambdaClient;
  /** The installation's archive bucket. */
  bucket: string;
  /** Name or ARN of the function that mounts the tenants' file system. */
  dataFunction: string;
  /** For the links' expiry. */
  now?: () => Date;
  /**
   * How long an export is waited for before its link is returned anyway; the data function goes
   * on, and the object appears at the link when it is done. Below API Gateway's 30 s.
   */
  exportWaitMs?: number;
}

/** Leaves the API function (29 s) time to sign the link and answer. */
export const EXPORT_WAIT_MS = 20_000;

/** A larger upload cannot be within the restore limits: refused before the data function spends minutes reading it. */
export const MAX_UPLOAD_BYTES = ARCHIVE_LIMITS.maxUploadBytes;

const LINK_SECONDS = ARCHIVE_LIMITS.linkTtlMs / 1000;

/** The data function ran but failed (a crash, a timeout, an S3 or file system error). */
export class DataFunctionError extends Error {
  constructor(
    readonly action: string,
    readonly tenantId: string,
    readonly functionError: string,
    readonly detail: string,
  ) {
    super(`The data function could not ${action} the data of tenant "${tenantId}" (${functionError}): ${detail}`);
    this.name = 'DataFunctionError';
  }
}

/**
 * A tenant's data as a `.tar.gz` through S3: the data function, which alone mounts the tenants'
 * file system, packs a tenant into the archive bucket or unpacks an upload from it; the API hands
 * out presigned links to those objects, which act with the API role's rights (GetObject on
 * `exports/*`, PutObject on `restores/*`) and only for the one key and the hour they were signed for.
 */
export class S3DataArchives implements DataArchives {
  private readonly s3: S3Client;
  private readonly lambda: LambdaClient;
  private readonly bucket: string;
  private readonly dataFunction: string;
  private readonly now: () => Date;
  private readonly exportWaitMs: number;

  constructor({
    s3Client = new S3Client({}),
    lambdaClient = new LambdaClient({}),
    bucket,
    dataFunction,
    now = () => new Date(),
    exportWaitMs = EXPORT_WAIT_MS,
  }: S3DataArchivesOptions) {
    this.exportWaitMs = exportWaitMs;
    this.s3 = s3Client;
    this.lambda = lambdaClient;
    this.bucket = bucket;
    this.dataFunction = dataFunction;
    this.now = now;
  }

  /**
   * Waits for the whole archive to be in the bucket, so the link works from the moment it is
   * returned and a failure is reported. A tenant too large to pack within `exportWaitMs` gets its
   * link anyway: a synchronous invocation runs to its end when its caller stops waiting, so the
   * object appears at the link once packed (a 404 until then), rather than the request failing at
   * API Gateway's 30 s with an archive nobody can find.
   */
  async exportData(tenantId: string): Promise<TimedLink> {
    const key = archiveKey('exports', tenantId, randomUUID());
    const stopWaiting = new AbortController();
    const waited = new Promise<'still packing'>((resolve) => {
      const timer = setTimeout(() => resolve('still packing'), this.exportWaitMs);
      stopWaiting.signal.addEventListener('abort', () => clearTimeout(timer));
    });
    try {
      await Promise.race([this.invoke({ action: 'export', tenantId, key }, stopWaiting.signal), waited]);
    } finally {
      // Stops the waiting, not the function.
      stopWaiting.abort();
    }
    return this.link(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async uploadLink(tenantId: string): Promise<TimedLink & { uploadId: string }> {
    const uploadId = randomUUID();
    const link = await this.link(new PutObjectCommand({ Bucket: this.bucket, Key: archiveKey('restores', tenantId, uploadId) }));
    return { ...link, uploadId };
  }

  async restoreData(tenantId: string, uploadId: string): Promise<{ files: number; bytes: number }> {
    const missing = new NotFoundError(
      `Nothing was uploaded for tenant "${tenantId}" under upload id "${uploadId}" (uploads are kept a day).`,
    );
    // Anything but an id this adapter made could only name another object; it names none.
    if (!isArchiveId(uploadId)) throw missing;
    const key = archiveKey('restores', tenantId, uploadId);
    const size = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })).then(
      (head) => head.ContentLength ?? 0,
      (error: unknown) => {
        throw error instanceof NotFound ? missing : error;
      },
    );
    if (size > MAX_UPLOAD_BYTES) {
      throw new ArchiveRejectedError(
        `The archive was not restored: it is ${Math.ceil(size / 1_048_576)} MiB, larger than an archive within the restore limits can be.`,
      );
    }
    const result = await this.invoke({ action: 'restore', tenantId, key });
    if ('files' in result) return { files: result.files, bytes: result.bytes };
    throw new Error(`The data function answered a restore with ${JSON.stringify(result)}`);
  }

  private async link(command: GetObjectCommand | PutObjectCommand): Promise<TimedLink> {
    const signedAt = this.now();
    const url = await getSignedUrl(this.s3, command, { expiresIn: LINK_SECONDS, signingDate: signedAt });
    return { url, expiresAt: new Date(signedAt.getTime() + LINK_SECONDS * 1000).toISOString() };
  }

  /** Invokes the data function and waits for it; its refusals come back as the domain's errors. */
  private async invoke(
    request: TenantDataRequest & { key: string },
    abortSignal?: AbortSignal,
  ): Promise<Exclude<TenantDataResult, { error: string }>> {
    const { FunctionError, Payload } = await this.lambda.send(
      new InvokeCommand({ FunctionName: this.dataFunction, InvocationType: 'RequestResponse', Payload: JSON.stringify(request) }),
      abortSignal ? { abortSignal } : {},
    );
    const text = Payload ? new TextDecoder().decode(Payload) : '';
    if (FunctionError) throw new DataFunctionError(request.action ?? 'remove', request.tenantId, FunctionError, text);
    const result = JSON.parse(text) as TenantDataResult;
    if ('error' in result) {
      throw result.error === 'ArchiveRejected' ? new ArchiveRejectedError(result.message) : new NotFoundError(result.message);
    }
    return result;
  }
}
