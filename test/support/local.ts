import { readFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TaskStateChange } from '../../shared/app/task-event.js';
import type { ObservedTask } from '../../shared/ports/compute.js';
import type { ProcessCompute } from '../../shared/adapters/local/process-compute.js';
import { processStartTime } from '../../shared/adapters/local/tenant-processes.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface GetOptions {
  /** Sent as the Host header: undici's fetch cannot set it, node:http can. */
  host?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Gets the request as soon as it is made, to abort it from the test. */
  onRequest?: (req: ClientRequest) => void;
}

/** A GET over node:http on a fresh connection, with the Host header the test chooses. */
export function get(address: string, path: string, options: GetOptions = {}): Promise<RawResponse> {
  const url = new URL(path, `http://${address}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        agent: false,
        setHost: options.host === undefined,
        headers: { ...(options.host !== undefined ? { host: options.host } : {}), ...options.headers },
        timeout: options.timeoutMs ?? 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url.href} timed out`)));
    req.on('error', reject);
    options.onRequest?.(req);
    req.end();
  });
}

export interface KeptAliveResponse extends RawResponse {
  /** The connection that carried the request. */
  socket: Socket;
}

/**
 * A visitor that keeps one connection open between its requests, as a browser does: each answer
 * says which socket carried it, so a test can see the connection reused.
 */
export function keptAliveClient(address: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get(path: string, { host, headers = {} }: { host: string; headers?: Record<string, string> }): Promise<KeptAliveResponse> {
      return new Promise((resolve, reject) => {
        const req = httpRequest(new URL(path, `http://${address}`), { agent, setHost: false, headers: { host, ...headers } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: req.socket! }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    },
    close: () => agent.destroy(),
  };
}

/** Polls until `check` returns something other than undefined/false, or fails with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * True once no process has this pid (signal 0 only asks whether it exists), or only a zombie
 * does: a dead process that an init which does not reap (as in some containers) keeps listed.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    // /proc/<pid>/stat: "<pid> (<name>) <state> …"
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Processes and process groups a test file kills at the end, whatever happened, so that a failure
 * leaves nothing running. Each is named by pid and start time, and signalled only while that
 * still names it: pids are handed out again once the counter wraps (at 32 768 on some machines),
 * so a bare pid kept since the start of a file may by its end be another process's, a test's or
 * one of the machine's own.
 */
export class Cleanup {
  private readonly entries = new Map<string, { pid: number; group: boolean; startTime: string }>();

  /** A process; ignored when it is already gone. */
  process(pid: number | undefined): void {
    this.note(pid, false);
  }

  /** The process group this process leads; ignored when the leader is already gone. */
  group(pgid: number | undefined): void {
    this.note(pgid, true);
  }

  /** SIGCONT (a stopped process cannot act on anything else) then SIGKILL to each still there. */
  killAll(): void {
    for (const { pid, group, startTime } of this.entries.values()) {
      const now = processStartTime(pid);
      // Another start time: the pid is someone else's now. None: the process is gone, but the group
      // it led may still have members, and no new process gets that id while they run.
      if (now === undefined ? !group : now !== startTime) continue;
      for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          process.kill(group ? -pid : pid, signal);
        } catch {
          // ESRCH: gone meanwhile, which is what the cleanup is for.
        }
      }
    }
    this.entries.clear();
  }

  private note(pid: number | undefined, group: boolean): void {
    const key = `${group ? '-' : ''}${pid}`;
    // Noted once: noted again later, the pid might already be another process's.
    if (pid === undefined || this.entries.has(key)) return;
    const startTime = processStartTime(pid);
    if (startTime !== undefined) this.entries.set(key, { pid, group, startTime });
  }
}

/** Records a compute's task events, and waits for the one a test expects. */
export function recordEvents(compute: ProcessCompute) {
  const events: TaskStateChange[] = [];
  compute.onTaskEvent((event) => {
    events.push(event);
  });
  return {
    events,
    of: (arn: string) => events.filter((event) => event.task.arn === arn),
    until: (arn: string, matches: (task: ObservedTask) => boolean, timeoutMs = 10_000) =>
      waitFor(`an event for ${arn} that matches`, () => events.find((event) => event.task.arn === arn && matches(event.task)), timeoutMs),
  };
}

export interface TestServer {
  /** `127.0.0.1:<port>`, the form task addresses take in embedded mode. */
  ip: string;
  server: Server;
  close(): Promise<void>;
}

/** An in-process HTTP server on a loopback port, standing in for a tenant's application. */
export async function startTestServer(handler: RequestListener): Promise<TestServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    ip: `127.0.0.1:${port}`,
    server,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
