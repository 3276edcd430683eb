import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../domain/errors.js';
import { isValidSlug } from '../../domain/slug.js';
import type { LogLine, LogPage, LogQuery, LogSource, TenantLogs } from '../../ports/tenant-logs.js';

/** A file is set aside once it reaches this size; with the one before, a tenant keeps at most twice this. */
export const LOG_FILE_BYTES = 1024 * 1024;
/** Longer lines are cut: one runaway line must not take the whole file. */
const MAX_MESSAGE_CHARS = 8 * 1024;
const CURRENT = 'output.log';
const PREVIOUS = 'output.log.1';

/** One line as kept: numbered, so a reader can go on after the last line it saw. */
interface StoredLine extends LogLine {
  seq: number;
}

/** How long a tenant's first line waits for others to be written with it. */
const BATCH_MS = 100;

/** Lines to write in one go, and whom to tell if that fails. */
interface Batch {
  lines: LogLine[];
  onErrors: Set<(error: unknown) => void>;
  /** Writes the lines as soon as the tenant's previous ones are written. */
  start(): void;
  written: Promise<void>;
}

interface TenantFile {
  /** Bytes in the current file. */
  size: number;
  /** Number of the last line written. */
  seq: number;
}

/**
 * Tenants' output in embedded mode: `<root>/logs/<tenant>/output.log`, one JSON line per line
 * printed, rotated at `LOG_FILE_BYTES` with one previous file kept. Beside the tenants' data
 * directories, not in them: the app never sees its logs in DATA_DIR, and they count neither in
 * its data size nor in its exports.
 */
export class LocalTenantLogs implements TenantLogs {
  readonly logsDir: string;
  private readonly fileBytes: number;
  private readonly files = new Map<string, Promise<TenantFile>>();
  /** Writes per tenant, one after the other, so lines keep their order and rotation is never raced. */
  private readonly queues = new Map<string, Promise<void>>();
  /** Each tenant's lines not yet being written: they go to its file together. */
  private readonly waiting = new Map<string, Batch>();

  constructor(root: string, { fileBytes = LOG_FILE_BYTES }: { fileBytes?: number } = {}) {
    this.logsDir = join(root, 'logs');
    this.fileBytes = fileBytes;
  }

  /**
   * Keeps one printed line; failures go to `onError`, never to the tenant. A tenant's lines are
   * written together, BATCH_MS after the first: a tenant that logs every request would otherwise
   * cost embedded mode's one thread, which also runs the gateway, a file open and close per request.
   * Reads, `flush` and `remove` write what waits first.
   */
  append(tenantId: string, line: LogLine, onError: (error: unknown) => void = () => {}): Promise<void> {
    const batch = this.waiting.get(tenantId) ?? this.newBatch(tenantId);
    batch.lines.push(line);
    batch.onErrors.add(onError);
    return batch.written;
  }

  /** Resolves once every line appended so far is written. */
  async flush(): Promise<void> {
    for (const batch of this.waiting.values()) batch.start();
    await Promise.all(this.queues.values());
  }

  async remove(tenantId: string): Promise<void> {
    await this.written(tenantId);
    this.files.delete(tenantId);
    await rm(this.dirFor(tenantId), { recursive: true, force: true });
  }

  async read({ tenantId }: LogSource, { since, limit, next }: LogQuery): Promise<LogPage> {
    const after = next === undefined ? undefined : position(next);
    await this.written(tenantId);
    const all = [...(await this.lines(tenantId, PREVIOUS)), ...(await this.lines(tenantId, CURRENT))];
    const newest = all.at(-1)?.seq ?? 0;
    let lines = all;
    if (after !== undefined) lines = lines.filter((line) => line.seq > after);
    if (since !== undefined) lines = lines.filter((line) => line.at >= since);
    const page = after === undefined && since === undefined ? lines.slice(-limit) : lines.slice(0, limit);
    const last = page.at(-1)?.seq ?? after ?? newest;
    return { lines: page.map(({ seq: _seq, ...line }) => line), next: String(last) };
  }

  /** A batch written once started (by its timer at the latest) and the tenant's previous ones are written. */
  private newBatch(tenantId: string): Batch {
    const previous = this.queues.get(tenantId) ?? Promise.resolve();
    let release = () => {};
    const started = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(() => batch.start(), BATCH_MS).unref();
    const batch: Batch = {
      lines: [],
      onErrors: new Set(),
      start: () => {
        clearTimeout(timer);
        if (this.waiting.get(tenantId) === batch) this.waiting.delete(tenantId);
        release();
      },
      written: Promise.all([previous, started])
        .then(() => this.write(tenantId, batch.lines))
        .catch((error: unknown) => {
          for (const report of batch.onErrors) report(error);
        }),
    };
    this.waiting.set(tenantId, batch);
    this.queues.set(tenantId, batch.written);
    return batch;
  }

  /** Writes the tenant's waiting lines now, and resolves once all its lines are written. */
  private async written(tenantId: string): Promise<void> {
    this.waiting.get(tenantId)?.start();
    await this.queues.get(tenantId);
  }

  /** Appends the lines in order, setting the file aside whenever the next line would overfill it. */
  private async write(tenantId: string, lines: LogLine[]): Promise<void> {
    const file = await this.fileOf(tenantId);
    const dir = this.dirFor(tenantId);
    let chunk = '';
    let chunkBytes = 0;
    let seq = file.seq;
    // The file's size and last number change only once its lines are written.
    const appendChunk = async () => {
      if (chunkBytes === 0) return;
      await appendFile(join(dir, CURRENT), chunk, { mode: 0o600 });
      file.size += chunkBytes;
      file.seq = seq;
      chunk = '';
      chunkBytes = 0;
    };
    for (const line of lines) {
      const message = line.message.length > MAX_MESSAGE_CHARS ? `${line.message.slice(0, MAX_MESSAGE_CHARS)}…` : line.message;
      const text = `${JSON.stringify({ seq: seq + 1, at: line.at, ...(line.stream ? { stream: line.stream } : {}), message })}\n`;
      const bytes = Buffer.byteLength(text);
      if (file.size + chunkBytes > 0 && file.size + chunkBytes + bytes > this.fileBytes) {
        await appendChunk();
        await rename(join(dir, CURRENT), join(dir, PREVIOUS));
        file.size = 0;
      }
      chunk += text;
      chunkBytes += bytes;
      seq += 1;
    }
    await appendChunk();
  }

  /** The current file's size and last line number, read once per run. */
  private fileOf(tenantId: string): Promise<TenantFile> {
    let file = this.files.get(tenantId);
    if (!file) {
      file = (async () => {
        await mkdir(this.dirFor(tenantId), { recursive: true, mode: 0o700 });
        const size = await stat(join(this.dirFor(tenantId), CURRENT)).then(
          (found) => found.size,
          () => 0,
        );
        const kept = [...(await this.lines(tenantId, PREVIOUS)), ...(await this.lines(tenantId, CURRENT))];
        return { size, seq: kept.at(-1)?.seq ?? 0 };
      })();
      this.files.set(tenantId, file);
      // A failure is not kept: the next line tries again.
      file.catch(() => this.files.delete(tenantId));
    }
    return file;
  }

  private async lines(tenantId: string, name: string): Promise<StoredLine[]> {
    let text: string;
    try {
      text = await readFile(join(this.dirFor(tenantId), name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return text.split('\n').flatMap((row) => {
      if (row === '') return [];
      try {
        return [JSON.parse(row) as StoredLine];
      } catch {
        return []; // A line cut short by a crash: the others are still worth reading.
      }
    });
  }

  private dirFor(tenantId: string): string {
    if (!isValidSlug(tenantId)) throw new Error(`Not a tenant id: ${JSON.stringify(tenantId)}`);
    return join(this.logsDir, tenantId);
  }
}

/** A `next` handed out by `read`: the number of the last line seen. */
function position(next: string): number {
  if (!/^\d{1,15}$/.test(next)) throw new ValidationError('Invalid next: pass back the "next" of a previous answer.', { next: 'unknown' });
  return Number(next);
}
