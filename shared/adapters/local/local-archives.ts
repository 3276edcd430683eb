import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ARCHIVE_LIMITS, UPLOAD_ID_PATTERN } from '../../domain/data-archives.js';
import { NotFoundError } from '../../domain/errors.js';
import type { DataArchives, TimedLink } from '../../ports/storage.js';
import type { DirectoryStorage } from './directory-storage.js';
import { packTenantData, recoverSwap, replaceDirectory, unpackTenantData } from '../common/tenant-archive.js';

export interface LocalDataArchivesOptions {
  /** The data root: exports and uploads are kept in `<root>/exports` and `<root>/uploads`. */
  root: string;
  /** The tenants' directories: one per tenant, whose path it gives. */
  storage: Pick<DirectoryStorage, 'tenantsDir' | 'dirFor'>;
  /** The local API's own URL (http://127.0.0.1:<port>), known once it listens. */
  apiOrigin: () => string;
  /** @default ARCHIVE_LIMITS.linkTtlMs */
  linkTtlMs?: number;
  /** @default ARCHIVE_LIMITS */
  limits?: { maxUnpackedBytes: number; maxEntries: number; maxUploadBytes: number };
}

interface Link {
  tenantId: string;
  /** The export, or the upload once received. */
  file: string;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

interface Upload extends Link {
  state: 'waiting' | 'receiving' | 'received';
}

/** Export ids: 128 random bits, so a link cannot be guessed from another one. */
const EXPORT_PATH = /^\/exports\/([0-9a-f]{32})\.tar\.gz$/;
const UPLOAD_PATH = /^\/uploads\/([^/?]+)$/;

/**
 * Tenant data archives in embedded mode: an export is packed into `<root>/exports/<id>.tar.gz`
 * and served by the local API at `GET /exports/<id>.tar.gz`; an archive to restore is PUT to
 * `/uploads/<uploadId>` on the same API. Links live in memory for `linkTtlMs`, then answer 404
 * and their files go; those of an earlier run are removed when it starts again.
 */
export class LocalDataArchives implements DataArchives {
  private readonly exportsDir: string;
  private readonly uploadsDir: string;
  private readonly linkTtlMs: number;
  private readonly limits: NonNullable<LocalDataArchivesOptions['limits']>;
  private readonly exports = new Map<string, Link>();
  private readonly uploads = new Map<string, Upload>();

  constructor(private readonly options: LocalDataArchivesOptions) {
    this.exportsDir = join(options.root, 'exports');
    this.uploadsDir = join(options.root, 'uploads');
    this.linkTtlMs = options.linkTtlMs ?? ARCHIVE_LIMITS.linkTtlMs;
    this.limits = options.limits ?? ARCHIVE_LIMITS;
  }

  /** Removes what an earlier run left (its links died with it) and makes the directories. */
  async prepare(): Promise<void> {
    for (const dir of [this.exportsDir, this.uploadsDir]) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
  }

  /** Forgets every link and its file's timer; the files go at the next `prepare`. */
  close(): void {
    for (const link of [...this.exports.values(), ...this.uploads.values()]) clearTimeout(link.timer);
    this.exports.clear();
    this.uploads.clear();
  }

  async exportData(tenantId: string): Promise<TimedLink> {
    const source = this.options.storage.dirFor(tenantId);
    // A tenant that never ran has no directory yet: its export is an empty archive.
    await mkdir(source, { recursive: true, mode: 0o700 });
    const id = randomBytes(16).toString('hex');
    const file = this.exportFile(id);
    await pipeline(packTenantData(source), createWriteStream(file, { mode: 0o600 })).catch(async (error: unknown) => {
      await rm(file, { force: true });
      throw error;
    });
    const link = this.track(this.exports, id, tenantId, file, {});
    return { url: `${this.options.apiOrigin()}/exports/${id}.tar.gz`, expiresAt: new Date(link.expiresAt).toISOString() };
  }

  async uploadLink(tenantId: string): Promise<TimedLink & { uploadId: string }> {
    this.options.storage.dirFor(tenantId);
    const uploadId = randomUUID();
    const link = this.track(this.uploads, uploadId, tenantId, this.uploadFile(uploadId), { state: 'waiting' });
    return {
      url: `${this.options.apiOrigin()}/uploads/${uploadId}`,
      expiresAt: new Date(link.expiresAt).toISOString(),
      uploadId,
    };
  }

  async restoreData(tenantId: string, uploadId: string): Promise<{ files: number; bytes: number }> {
    const target = this.options.storage.dirFor(tenantId);
    await recoverSwap(target);
    const upload = this.live(this.uploads, uploadId);
    if (!upload || upload.tenantId !== tenantId || upload.state !== 'received') {
      throw new NotFoundError(
        `Nothing was uploaded for tenant "${tenantId}" under ${uploadId}: PUT the .tar.gz to the upload link ` +
          `(POST /tenants/${tenantId}/restore gives a new one) before it expires, then restore.`,
      );
    }
    // One restore per upload, whatever its outcome: a rejected archive is fixed and uploaded again.
    clearTimeout(upload.timer);
    this.uploads.delete(uploadId);
    const file = `${upload.file}.restoring`;
    await rename(upload.file, file);
    try {
      // Staged beside the tenant's directory (same file system, so the swap is two renames), under
      // a name that is no slug, so the inventory never takes it for a tenant's.
      const staged = join(this.options.storage.tenantsDir, `.restore-${uploadId}`);
      await rm(staged, { recursive: true, force: true });
      const restored = await unpackTenantData(createReadStream(file), staged, {
        maxBytes: this.limits.maxUnpackedBytes,
        maxEntries: this.limits.maxEntries,
      });
      await replaceDirectory(target, staged);
      return restored;
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * Answers the requests for export and upload links, streaming (they are too large for the API
   * handler's body limit). Returns false for any other request, which the API handler then gets.
   */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0]!;
    const exported = EXPORT_PATH.exec(path);
    if (exported && (req.method === 'GET' || req.method === 'HEAD')) {
      await this.download(exported[1]!, req, res);
      return true;
    }
    const uploaded = UPLOAD_PATH.exec(path);
    if (uploaded && req.method === 'PUT') {
      // Issued ids are letters, digits, - and _: anything escaped is no id of ours (404).
      await this.receive(uploaded[1]!, req, res);
      return true;
    }
    return false;
  }

  private async download(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const link = this.live(this.exports, id);
    if (!link) return answer(res, 404, 'not_found', 'This export link has expired or never existed; ask for a new export.');
    const { size } = await stat(link.file);
    res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-length': size,
      'content-disposition': `attachment; filename="${link.tenantId}.tar.gz"`,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(link.file), res);
  }

  private async receive(uploadId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const upload = UPLOAD_ID_PATTERN.test(uploadId) ? this.live(this.uploads, uploadId) : undefined;
    if (!upload) return answer(res, 404, 'not_found', 'This upload link has expired or never existed; ask for a new one.');
    if (upload.state !== 'waiting') return answer(res, 409, 'already_uploaded', 'An archive was already uploaded with this link.');
    const max = this.limits.maxUploadBytes;
    const tooLarge = () => {
      // The rest of the body stays unread: this connection cannot carry another request.
      res.setHeader('connection', 'close');
      answer(res, 413, 'payload_too_large', `The archive is larger than ${max} bytes, the most a restore accepts.`);
    };
    if (Number(req.headers['content-length'] ?? 0) > max) return tooLarge();
    upload.state = 'receiving';
    const partial = `${upload.file}.partial`;
    const outcome = await receiveBody(req, partial, max);
    if (outcome !== 'received') {
      upload.state = 'waiting';
      await rm(partial, { force: true });
      if (outcome === 'too large') tooLarge();
      return;
    }
    await rename(partial, upload.file);
    // The link may have expired while the body came in; its file must not outlive it.
    if (this.uploads.get(uploadId) !== upload) {
      await rm(upload.file, { force: true });
      return answer(res, 404, 'not_found', 'This upload link expired while the archive was being sent; ask for a new one.');
    }
    upload.state = 'received';
    answer(res, 200, undefined, undefined, { uploadId, bytes: (await stat(upload.file)).size });
  }

  /** Keeps a link until it expires, then forgets it and removes its file. */
  private track<T extends Link>(links: Map<string, T>, id: string, tenantId: string, file: string, extra: Omit<T, keyof Link>): T {
    const link = {
      ...extra,
      tenantId,
      file,
      expiresAt: Date.now() + this.linkTtlMs,
      timer: setTimeout(() => void this.forget(links, id), this.linkTtlMs).unref(),
    } as T;
    links.set(id, link);
    return link;
  }

  /** The link if it is known and not expired; an expired one is removed on the way. */
  private live<T extends Link>(links: Map<string, T>, id: string): T | undefined {
    const link = links.get(id);
    if (link && link.expiresAt > Date.now()) return link;
    if (link) void this.forget(links, id);
    return undefined;
  }

  private async forget<T extends Link>(links: Map<string, T>, id: string): Promise<void> {
    const link = links.get(id);
    if (!link) return;
    clearTimeout(link.timer);
    links.delete(id);
    await rm(link.file, { force: true }).catch(() => {});
  }

  private exportFile(id: string): string {
    return join(this.exportsDir, `${id}.tar.gz`);
  }

  private uploadFile(uploadId: string): string {
    return join(this.uploadsDir, `${uploadId}.tar.gz`);
  }

  /** A tenant id is a slug, so it cannot climb out of the tenants directory; checked all the same. */
}

/**
 * Writes the request's body to `file`, or stops as soon as it grows past `max` bytes (the
 * connection is then answered and closed, not read on).
 */
function receiveBody(req: IncomingMessage, file: string, max: number): Promise<'received' | 'too large' | 'client gone'> {
  return new Promise((resolve) => {
    const out = createWriteStream(file, { mode: 0o600 });
    let bytes = 0;
    let settled = false;
    const settle = (outcome: 'received' | 'too large' | 'client gone') => {
      if (settled) return;
      settled = true;
      if (outcome === 'received') return resolve(outcome);
      req.unpipe(out);
      req.pause();
      // The file is removed by the caller once the stream has let go of it.
      out.destroy();
      out.once('close', () => resolve(outcome));
    };
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > max) settle('too large');
    });
    req.once('close', () => {
      if (!req.complete) settle('client gone');
    });
    out.once('error', () => settle('client gone'));
    out.once('close', () => {
      if (req.complete && bytes <= max) settle('received');
    });
    req.pipe(out);
  });
}

function answer(res: ServerResponse, status: number, code?: string, message?: string, body?: unknown): void {
  const text = JSON.stringify(code ? { error: { code, message } } : body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
