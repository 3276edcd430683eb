import { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { ALBResult } from 'aws-lambda';
import type { Activity, ActivityLevel } from '../../ports/activity.js';
import type { FallbackRequest } from './alb-fallback.js';
import type { GatewayOptions } from './gateway.js';
import type { GatewayRouting, HostRoute } from './gateway-routing.js';
import { PortInUseError } from './start-error.js';

/** What the thread's gateways are started with: GatewayOptions that can be sent to a thread. */
export type GatewaySettings = Omit<GatewayOptions, 'routing' | 'fallback' | 'activity' | 'logger'>;

export interface GatewayThreadOptions {
  /** One gateway each, sharing the routing and the activity counts: the main one, and one per shard. */
  gateways: GatewaySettings[];
  /** Read here; every change of its routes is sent to the thread. */
  routing: GatewayRouting;
  /** The default action, run on this thread: the wake function, called as the ALB would call it. */
  fallback: (request: FallbackRequest) => Promise<ALBResult>;
  /** @default console */
  logger?: Pick<Console, 'warn' | 'error'>;
  /** The thread stopped on its own after it started (a bug): the gateways are gone. @default logs it */
  onFailure?: (error: Error) => void;
}

export interface GatewayThread {
  /** `url` and `port` of each gateway, in the order of the options. */
  gateways: Array<{ url: string; port: number }>;
  /** The gateways' traffic counts, read from the thread. */
  activity: Activity;
  /** How busy the gateways' thread has been, as performance.eventLoopUtilization reports it. */
  eventLoopUtilization(previous?: EventLoopUtilization): EventLoopUtilization;
  /** Stops the gateways (their open connections too), then the thread. */
  close(): Promise<void>;
}

/** The messages between this thread and the gateways' thread. */
export type ToGateway =
  | { type: 'routes'; host: string; routes: HostRoute[] }
  | { type: 'activity'; id: number; tenantIds: string[] }
  /** Without a result, the fallback failed (and was logged on the control plane's thread). */
  | { type: 'fallback-result'; id: number; result?: ALBResult }
  | { type: 'close' };
export type FromGateway =
  | { type: 'listening'; gateways: Array<{ url: string; port: number }> }
  | { type: 'failed'; message: string; code?: string; port?: number }
  | { type: 'fallback'; id: number; request: FallbackRequest }
  | { type: 'activity-result'; id: number; levels: Array<[string, ActivityLevel]> }
  | { type: 'log'; level: 'warn' | 'error'; text: string };

export interface GatewayWorkerData {
  gateways: GatewaySettings[];
  routes: Array<[string, HostRoute[]]>;
}

/** How long the thread is given to close its connections before it is ended anyway. */
const CLOSE_TIMEOUT_MS = 5_000;
const WORKER = new URL('./gateway-thread-boot.mjs', import.meta.url);

/**
 * Embedded mode's gateways on a thread of their own, as a load balancer is a machine of its
 * own: nothing the control plane does on its thread (signups, reconciles, a sweep of every
 * tenant, tenants' output) waits in front of a visitor's request. The thread keeps a copy of
 * the routing's RouteTable, sent every change; the wake function and the routing's health
 * checks stay here.
 */
export async function startGatewayThread(options: GatewayThreadOptions): Promise<GatewayThread> {
  const { routing, fallback, logger = console } = options;
  const onFailure = options.onFailure ?? ((error: Error) => logger.error(`[gateway] ${error.message}`));
  const pendingActivity = new Map<number, { resolve: (levels: Map<string, ActivityLevel>) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let started = false;
  let closing = false;
  let stopped: Error | undefined;

  // The snapshot and the subscription in the same turn of the event loop: no change falls between them.
  const worker = new Worker(WORKER, {
    workerData: { gateways: options.gateways, routes: routing.routes() } satisfies GatewayWorkerData,
  });
  const send = (message: ToGateway) => {
    if (!stopped) worker.postMessage(message);
  };
  const unsubscribe = routing.onRoutesChange((host, routes) => send({ type: 'routes', host, routes }));

  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const listening = new Promise<Array<{ url: string; port: number }>>((resolve, reject) => {
    const end = (error: Error) => {
      if (stopped) return;
      stopped = error;
      unsubscribe();
      for (const pending of pendingActivity.values()) pending.reject(error);
      pendingActivity.clear();
      // Before it listens, a failure is the start's: startGatewayThread rejects with it.
      reject(error);
      if (started && !closing) onFailure(error);
    };
    worker.on('error', (error) => end(new Error(`the gateway thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => end(new Error(`the gateway thread stopped (exit code ${code})`)));
    worker.on('message', (message: FromGateway) => {
      switch (message.type) {
        case 'listening':
          started = true;
          return resolve(message.gateways);
        case 'failed':
          closing = true;
          void worker.terminate();
          return reject(
            message.code === 'EADDRINUSE' && message.port !== undefined
              ? new PortInUseError(message.port)
              : Object.assign(new Error(message.message), { code: message.code }),
          );
        case 'fallback':
          // Through a promise: a fallback that throws must not become an uncaught exception here.
          return void Promise.resolve(message.request)
            .then(fallback)
            .then(
              (result) => send({ type: 'fallback-result', id: message.id, result }),
              (error: unknown) => {
                logger.error('[gateway] the fallback failed', error);
                send({ type: 'fallback-result', id: message.id });
              },
            );
        case 'activity-result':
          pendingActivity.get(message.id)?.resolve(new Map(message.levels));
          return void pendingActivity.delete(message.id);
        case 'log':
          return logger[message.level](message.text);
      }
    });
  });

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      unsubscribe();
      send({ type: 'close' });
      // The thread ends itself once its gateways are closed; a stuck one is ended anyway.
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    })());

  const gateways = await listening;
  return {
    gateways,
    activity: {
      activity: (targets) =>
        new Promise((resolve, reject) => {
          if (stopped) return reject(stopped);
          const id = nextId++;
          pendingActivity.set(id, { resolve, reject });
          send({ type: 'activity', id, tenantIds: targets.map((target) => target.tenantId) });
        }),
    },
    eventLoopUtilization: (previous) => worker.performance.eventLoopUtilization(previous),
    close,
  };
}
