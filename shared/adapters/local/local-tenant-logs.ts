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
  /** Appends per tenant, one after the other, so lines keep their order and rotation is never raced. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(root: string, { fileBytes = LOG_FILE_BYTES }: { fileBytes?: number } = {}) {
    this.logsDir = join(root, 'logs');
    this.fileBytes = fileBytes;
  }

  /** Keeps one printed line; failures go to `onError`, never to the tenant. */
  append(tenantId: string, line: LogLine, onError: (error: unknown) => void = () => {}): Promise<void> {
    const queued = (this.queues.get(tenantId) ?? Promise.resolve()).then(() => this.write(tenantId, line)).catch(onError);
    this.queues.set(tenantId, queued);
    return queued;
  }

  /** Resolves once every line appended so far is written. */
  async flush(): Promise<void> {
    await Promise.all(this.queues.values());
  }

  async remove(tenantId: string): Promise<void> {
    await this.queues.get(tenantId);
    this.files.delete(tenantId);
    await rm(this.dirFor(tenantId), { recursive: true, force: true });
  }

  async read({ tenantId }: LogSource, { since, limit, next }: LogQuery): Promise<LogPage> {
    const after = next === undefined ? undefined : position(next);
    await this.queues.get(tenantId);
    const all = [...(await this.lines(tenantId, PREVIOUS)), ...(await this.lines(tenantId, CURRENT))];
    const newest = all.at(-1)?.seq ?? 0;
    let lines = all;
    if (after !== undefined) lines = lines.filter((line) => line.seq > after);
    if (since !== undefined) lines = lines.filter((line) => line.at >= since);
    const page = after === undefined && since === undefined ? lines.slice(-limit) : lines.slice(0, limit);
    const last = page.at(-1)?.seq ?? after ?? newest;
    return { lines: page.map(({ seq: _seq, ...line }) => line), next: String(last) };
  }

  private async write(tenantId: string, line: LogLine): Promise<void> {
    const file = await this.fileOf(tenantId);
    const message = line.message.length > MAX_MESSAGE_CHARS ? `${line.message.slice(0, MAX_MESSAGE_CHARS)}…` : line.message;
    const text = `${JSON.stringify({ seq: file.seq + 1, at: line.at, ...(line.stream ? { stream: line.stream } : {}), message })}\n`;
    const dir = this.dirFor(tenantId);
    if (file.size > 0 && file.size + Buffer.byteLength(text) > this.fileBytes) {
      await rename(join(dir, CURRENT), join(dir, PREVIOUS));
      file.size = 0;
    }
    await appendFile(join(dir, CURRENT), text, { mode: 0o600 });
    file.size += Buffer.byteLength(text);
    file.seq += 1;
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
