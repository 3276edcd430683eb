import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OUTPUT_READ_INTERVAL_MS, readLines } from '../../shared/adapters/local/output-lines.js';
import { waitFor } from '../support/local.js';

/** A Node process running `script`, its stdout a pipe to this one. */
const printing = (script: string) => spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });

/** A real child process running `script`, its stdout read by readLines: the lines, and how many chunks the pipe gave. */
async function linesOf(script: string): Promise<{ lines: string[]; chunks: number; elapsedMs: number }> {
  const started = performance.now();
  const child = printing(script);
  const lines: string[] = [];
  let chunks = 0;
  readLines(child.stdout, (line) => lines.push(line));
  child.stdout.on('data', () => chunks++);
  await once(child.stdout, 'end');
  return { lines, chunks, elapsedMs: performance.now() - started };
}

/** 40 000 numbered lines of 7 to 110 characters (2.4 MB), written at once. */
const BURST = `
  const lines = Array.from({ length: 40000 }, (_, index) => 'line ' + (index + 1) + ' ' + 'x'.repeat(index % 97));
  process.stdout.write(lines.join('\\n') + '\\n');
`;

const numbered = (count: number) => Array.from({ length: count }, (_, index) => `line ${index + 1}`);

describe('readLines', () => {
  it('gives every non-empty line in order, and the unterminated last one at the end', async () => {
    const { lines } = await linesOf(`process.stdout.write('first\\r\\nsecond\\n\\n  \\nthird')`);
    expect(lines).toEqual(['first', 'second', 'third']);
  });

  it('reads a process printing a line every 2 ms in batches, not a wake-up per line', async () => {
    const { lines, chunks, elapsedMs } = await linesOf(`
      let printed = 0;
      const timer = setInterval(() => {
        console.log('line ' + ++printed);
        if (printed === 300) clearInterval(timer);
      }, 2);
    `);
    expect(lines).toEqual(numbered(300));
    // Read as it comes, nearly every line is a chunk of its own (300 in about 700 ms); read
    // after rests, at most one chunk per rest, however slow the machine.
    expect(chunks).toBeLessThanOrEqual(Math.ceil(elapsedMs / OUTPUT_READ_INTERVAL_MS) + 1);
  });

  it('takes a burst larger than the pipe whole, lines split across chunks included, without resting between its chunks', async () => {
    const child = printing(BURST);
    const lines: string[] = [];
    // Rests of 1 s: were the reading to rest between the burst's chunks (64 KB each, about
    // 1 100 lines), the 40 000 lines would take over 30 s; read on, they all come within a second.
    readLines(child.stdout, (line) => lines.push(line), 1_000);
    try {
      await waitFor('the whole burst', () => lines.length === 40_000, 8_000);
      expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual(numbered(40_000));
      expect(lines[40_000 - 1]).toBe(`line 40000 ${'x'.repeat(39_999 % 97)}`);
    } finally {
      child.stdout.destroy();
      child.kill();
    }
  });

  it('goes on to the end when another reader pauses the stream now and then, as pipe() to a slow destination does', async () => {
    const child = printing(`
      console.log('first');
      setTimeout(() => console.log('second'), 50);
      setTimeout(() => console.log('x'.repeat(40000)), 80);
      setTimeout(() => console.log('last'), 600);
    `);
    const lines: string[] = [];
    const errors: Error[] = [];
    readLines(child.stdout, (line) => lines.push(line.length > 10 ? `${line.length} characters` : line));
    child.stdout.on('error', (error) => errors.push(error));
    child.stdout.on('data', () => {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 150);
    });
    await once(child, 'close');
    expect(errors).toEqual([]);
    expect(lines).toEqual(['first', 'second', '40000 characters', 'last']);
  });

  it('reads a stream without a pipe under it as its data comes', async () => {
    const lines: string[] = [];
    const source = Readable.from([Buffer.from('a\nb'), Buffer.from('\nc')]);
    readLines(source, (line) => lines.push(line));
    await once(source, 'end');
    expect(lines).toEqual(['a', 'b', 'c']);
  });
});
