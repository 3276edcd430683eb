#!/usr/bin/env node
// The demo tenant application that embedded mode runs for every tenant: plain Node, no
// dependencies, so `PORT=4000 TENANT_ID=acme node demo/whoami.mjs` runs it anywhere.
//
//   GET /whoami        {"tenant":"acme","host":"acme.localhost","pid":1234,"visits":7}
//                      visits: how many times /whoami has answered for this tenant, kept in
//                      $DATA_DIR/visits.json so the count survives sleep, wake and restarts
//   GET /healthz       200 ok (for a health check path set to /healthz)
//   GET /headers       the request headers as the tenant received them (x-forwarded-*, host)
//   GET /slow?ms=2000  answers after a delay (at most 60 s): a request held open
//   GET /              a small HTML page naming the tenant (also the default health check)
// Every request but health checks is logged on stdout, one line each: `GET /whoami 200 3ms host=acme.localhost`.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const port = Number(process.env.PORT ?? 8080);
const bindHost = process.env.HOST ?? '127.0.0.1';
const tenant = process.env.TENANT_ID ?? 'unknown';
const tenantHost = process.env.TENANT_HOST ?? `${tenant}.localhost`;
const MAX_SLOW_MS = 60_000;

if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(1);
}

// Without DATA_DIR (a stateless deployment) the count lives as long as the process.
const dataDir = process.env.DATA_DIR;
const visitsFile = dataDir ? join(dataDir, 'visits.json') : undefined;
let visits = readVisits();

function readVisits() {
  if (!visitsFile) return 0;
  try {
    return JSON.parse(readFileSync(visitsFile, 'utf8')).visits;
  } catch (error) {
    if (error.code === 'ENOENT') return 0;
    throw error;
  }
}

/**
 * Written before the answer, then renamed into place: a kill -9 never loses or tears a counted
 * visit (the kernel keeps what a dead process wrote; NFS, as on EFS, writes it out at close).
 */
function countVisit() {
  visits += 1;
  if (!visitsFile) return visits;
  const temporary = `${visitsFile}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify({ visits }), { mode: 0o600 });
  renameSync(temporary, visitsFile);
  return visits;
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * One line per request once answered, as an access log would: what the tenant's logs show. Not
 * the load balancer's health checks (every few seconds, locally every second): they would push
 * the visitors' requests out of the kept logs within hours.
 */
function logRequest(req, res, started) {
  if (req.headers['user-agent']?.startsWith('ELB-HealthChecker/')) return;
  res.once('finish', () => {
    const ms = Math.round(performance.now() - started);
    console.log(`${req.method} ${req.url} ${res.statusCode} ${ms}ms host=${req.headers.host ?? '-'}`);
  });
}

const server = createServer((req, res) => {
  logRequest(req, res, performance.now());
  const url = new URL(req.url ?? '/', 'http://tenant');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'Method Not Allowed\n');
  switch (url.pathname) {
    case '/whoami':
      return send(res, 200, 'application/json', JSON.stringify({ tenant, host: tenantHost, pid: process.pid, visits: countVisit() }));
    case '/healthz':
      return send(res, 200, 'text/plain', 'ok\n');
    case '/headers':
      return send(res, 200, 'application/json', JSON.stringify(req.headers));
    case '/slow': {
      const ms = Math.min(MAX_SLOW_MS, Math.max(0, Number(url.searchParams.get('ms')) || 0));
      const timer = setTimeout(() => send(res, 200, 'text/plain', `answered after ${ms} ms\n`), ms);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    case '/':
      return send(
        res,
        200,
        'text/html; charset=utf-8',
        `<!doctype html><title>${escapeHtml(tenant)}</title>` +
          `<h1>Hello from ${escapeHtml(tenant)}</h1>` +
          `<p>This is the demo application of tenant <b>${escapeHtml(tenant)}</b>, served on ${escapeHtml(tenantHost)} by process ${process.pid}.</p>`,
      );
    default:
      return send(res, 404, 'text/plain', 'Not Found\n');
  }
});

server.on('error', (error) => {
  // EADDRINUSE and the like: the last stderr line becomes the task's containerReason.
  console.error(`Cannot listen on ${bindHost}:${port}: ${error.message}`);
  process.exit(1);
});

server.listen(port, bindHost, () => {
  console.log(`Tenant ${tenant} (${tenantHost}) listening on http://${bindHost}:${port}`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  // Held and keep-alive connections would otherwise keep close() waiting.
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Set by Dormouse's local compute, which keeps a pipe on our stdin: when the control plane
// dies, even by SIGKILL, the pipe closes and this process goes with it instead of lingering.
if (process.env.EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
