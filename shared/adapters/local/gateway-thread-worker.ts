import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { sendAlbResult } from './alb-fallback.js';
import { sendText, startGateway, type Gateway, type GatewayFallback } from './gateway.js';
import { RouteTable } from './gateway-routing.js';
import type { FromGateway, GatewayWorkerData, ToGateway } from './gateway-thread.js';
import { LocalActivity } from './local-activity.js';

/** The gateways' side of startGatewayThread: runs in the worker that gateway-thread-boot.mjs starts. */
const port = parentPort!;
const { gateways: settings, routes } = workerData as GatewayWorkerData;
const post = (message: FromGateway) => port.postMessage(message);

const table = new RouteTable(routes);
const activity = new LocalActivity();
const logger = {
  warn: (...args: unknown[]) => post({ type: 'log', level: 'warn', text: format(...args) }),
  error: (...args: unknown[]) => post({ type: 'log', level: 'error', text: format(...args) }),
};

/** Fallback calls waiting for the control plane's thread, by id. */
const waiting = new Map<number, (message: Extract<ToGateway, { type: 'fallback-result' }>) => void>();
let nextId = 0;
const fallback: GatewayFallback = (req, res) =>
  new Promise<void>((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, ({ result }) => {
      try {
        // A failure was logged where it happened, on the control plane's thread.
        if (result) sendAlbResult(res, result);
        else sendText(res, 500, 'Internal Server Error');
        resolve();
      } catch (error) {
        // An answer Node refuses to send (a header with a control character, say): none of it
        // goes out, and the gateway answers 500 instead.
        if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
        reject(error as Error);
      }
    });
    post({ type: 'fallback', id, request: { method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders } });
  });

const started: Gateway[] = [];
const closeAll = () => Promise.allSettled(started.map((gateway) => gateway.close()));

port.on('message', (message: ToGateway) => {
  switch (message.type) {
    case 'routes':
      return table.set(message.host, message.routes);
    case 'fallback-result':
      waiting.get(message.id)?.(message);
      return void waiting.delete(message.id);
    case 'activity':
      return void activity
        .activity(message.tenantIds.map((tenantId) => ({ tenantId, targetGroupArn: '' })))
        .then((levels) => post({ type: 'activity-result', id: message.id, levels: [...levels] }));
    case 'close':
      return void closeAll().then(() => process.exit(0));
  }
});

for (const gateway of settings) {
  try {
    started.push(await startGateway({ ...gateway, routing: table, fallback, activity, logger }));
  } catch (error) {
    await closeAll();
    // The control plane's thread ends this one once it has read why.
    post({ type: 'failed', message: (error as Error).message, code: (error as NodeJS.ErrnoException).code, port: gateway.port });
    await new Promise(() => {});
  }
}
post({ type: 'listening', gateways: started.map(({ url, port: listeningOn }) => ({ url, port: listeningOn })) });
