import { Worker } from 'node:worker_threads';

export interface HttpLoad {
  /** Where each call goes: `{i}` in the path or body is replaced by the call's index. */
  url: string;
  method?: string;
  /** Sent as the Host header, as a browser reaching `<slug>.localhost` would. */
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  count: number;
  /** `{i}` counts up to this and starts over. @default count */
  distinct?: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** The status every call must answer with. */
  expected: number;
}

/**
 * Like runHttpLoad, but call i goes to `targets[i % targets.length]`: the targets are measured
 * request by request in turn, so a change in the machine's load meets each of them alike.
 * Resolves with each target's latencies, sorted, in the order of `targets`.
 */
export function runInterleavedLoad(
  load: Omit<HttpLoad, 'url' | 'host'>,
  targets: Array<{ url: string; host?: string }>,
): Promise<number[][]> {
  return inWorker({ ...load, targets });
}

/**
 * The client of a load run, in a worker thread of its own: in the bench's own event loop it
 * would queue its requests behind the very servers it measures (the API and the gateway run in
 * this process too), and add its own work to their latency. Keep-alive connections, as a
 * browser or an HTTP client library keeps them. Resolves with the latencies in ms, sorted.
 */
export async function runHttpLoad(load: HttpLoad): Promise<number[]> {
  const [latencies] = await inWorker({ ...load, targets: [{ url: load.url, ...(load.host ? { host: load.host } : {}) }] });
  return latencies!;
}

function inWorker(load: Omit<HttpLoad, 'url' | 'host'> & { targets: Array<{ url: string; host?: string }> }): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: load });
    worker.once('message', (message: { latencies?: number[][]; error?: string }) =>
      message.error ? reject(new Error(message.error)) : resolve(message.latencies!),
    );
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`The load worker exited with code ${code}`));
    });
  });
}

// Plain JavaScript: an eval'd worker is not run through the TypeScript loader.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { performance } = require('node:perf_hooks');
const load = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: load.concurrency });
const fill = (text, i) => text.replaceAll('{i}', String(i % (load.distinct || load.count)));
function call(i) {
  const target = load.targets[i % load.targets.length];
  return new Promise((resolve, reject) => {
    const url = new URL(fill(target.url, i));
    const body = load.body === undefined ? undefined : fill(load.body, i);
    const started = performance.now();
    const req = request(url, {
      method: load.method || 'GET',
      agent,
      headers: {
        ...load.headers,
        ...(target.host ? { host: target.host } : {}),
        ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}),
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
(async () => {
  const latencies = load.targets.map(() => []);
  let next = 0;
  await Promise.all(Array.from({ length: load.concurrency }, async () => {
    while (next < load.count) {
      const i = next++;
      const { ms, status } = await call(i);
      if (status !== load.expected) throw new Error('Call ' + i + ' answered ' + status + ', expected ' + load.expected);
      latencies[i % load.targets.length].push(ms);
    }
  }));
  agent.destroy();
  parentPort.postMessage({ latencies: latencies.map((list) => list.sort((a, b) => a - b)) });
})().catch((error) => parentPort.postMessage({ error: String(error && error.message || error) }));
`;
