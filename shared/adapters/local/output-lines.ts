import type { Readable } from 'node:stream';

/**
 * How long a tenant's output pipe is left unread after a chunk it gives. Embedded mode runs the
 * gateway on the same thread: woken for every line a tenant prints (an app logging each request),
 * it added about 1 ms more to the gateway's answers at 16 concurrent than read in batches (see the
 * README's benchmarks).
 */
export const OUTPUT_READ_INTERVAL_MS = 25;

/**
 * A chunk with this many lines, or characters, means the tenant writes fast: reading goes on
 * without rests until no such chunk has come for a whole interval. The pipe (a socket pair)
 * holds about 270 writes, whatever their size; a tenant that fills it waits, or keeps its output
 * in its own memory, until the next read.
 */
const MANY_LINES = 128;
const MANY_CHARACTERS = 8 * 1024;

/**
 * The libuv handle under a pipe socket, and Node's own view of it (`reading`). Node's `pause()`
 * stops an `onread` socket's reading with it; a child's pipes have no public way to.
 */
interface ReadingHandle {
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

/**
 * Calls `onLine` with each non-empty line of `source` (a child process's stdout or stderr pipe),
 * the last unterminated one at its end. After a chunk, the pipe is left unread for `intervalMs`:
 * it holds what the process writes meanwhile, and the next read takes it all at once. Where the
 * stream has no such handle, it is read as its data comes.
 */
export function readLines(source: Readable, onLine: (line: string) => void, intervalMs = OUTPUT_READ_INTERVAL_MS): void {
  let partial = '';
  let resting: NodeJS.Timeout | undefined;
  let fastUntil = 0;
  const deliver = (line: string) => {
    if (line.trim() !== '') onLine(line);
  };
  const rest = () => {
    const handle = (source as { _handle?: Partial<ReadingHandle> | null })._handle;
    // Only while Node sees the handle reading: when Node has stopped it itself (a consumer that
    // paused the stream), Node starts it again, and a start of ours as well would be an error.
    if (resting || handle?.reading !== true || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') return;
    handle.readStop();
    resting = setTimeout(() => {
      resting = undefined;
      if (!source.destroyed && handle.reading === true) handle.readStart!();
    }, intervalMs);
  };
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/\r?\n/);
    partial = lines.pop() ?? '';
    lines.forEach(deliver);
    const now = Date.now();
    if (lines.length >= MANY_LINES || chunk.length >= MANY_CHARACTERS) fastUntil = now + intervalMs;
    else if (now >= fastUntil) rest();
  });
  source.on('end', () => {
    deliver(partial);
    partial = '';
  });
  source.on('close', () => clearTimeout(resting));
  source.on('error', () => {
    // The pipe broke with the process: what it said before is already delivered.
  });
}
