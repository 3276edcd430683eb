import type { Readable } from 'node:stream';

/**
 * How long a tenant's output pipe is left unread after a chunk it gives. Embedded mode runs the
 * gateway on the same thread: woken for every line a tenant prints (an app logging each request),
 * it added about 1 ms more to the gateway's answers at 16 concurrent than read in batches (see the
 * README's benchmarks). A line reaches the tenant's logs at most this much later.
 */
export const OUTPUT_READ_INTERVAL_MS = 25;

/**
 * A chunk this long means the tenant writes fast: reading goes on at once. The pipe (a socket
 * pair) fills at about 13 KB of one-line writes, after which a tenant waits or buffers in its own
 * memory; below this, it never fills while the reading rests.
 */
const FULL_CHUNK = 8 * 1024;

/** The libuv handle under a pipe socket: Node's own `pause()` stops an `onread` socket's reading with it. */
interface ReadingHandle {
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
  const deliver = (line: string) => {
    if (line.trim() !== '') onLine(line);
  };
  // Node still sees a stream that reads: stopping the handle alone keeps Node from restarting it.
  const rest = () => {
    const handle = (source as { _handle?: Partial<ReadingHandle> | null })._handle;
    if (resting || typeof handle?.readStop !== 'function' || typeof handle.readStart !== 'function') return;
    handle.readStop();
    resting = setTimeout(() => {
      resting = undefined;
      if (!source.destroyed) handle.readStart!();
    }, intervalMs);
  };
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/\r?\n/);
    partial = lines.pop() ?? '';
    lines.forEach(deliver);
    if (chunk.length < FULL_CHUNK) rest();
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
