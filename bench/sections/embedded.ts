import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startEmbedded } from '../../shared/adapters/local/embedded.js';
import { freshTables } from '../lib/dynamodb.js';
import type { Row, Section } from '../lib/types.js';

const ADMIN = 'admin-token-for-the-bench-0123456789';
const CONCURRENCY = 16;

/** One HTTP request on a keep-alive agent, resolving with the milliseconds it took. */
function timed(
  url: URL,
  options: { method?: string; host?: string; body?: string } = {},
): Promise<{ ms: number; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? 'GET',
        headers: {
          ...(options.host ? { host: options.host } : {}),
          ...(options.body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Runs `count` calls, `CONCURRENCY` at a time, and returns their latencies. */
async function load(count: number, call: (index: number) => Promise<{ ms: number; status: number }>, expected: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const index = next++;
        const { ms, status } = await call(index);
        if (status !== expected) throw new Error(`Call ${index} answered ${status}, expected ${expected}`);
        latencies.push(ms);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (value: number) => `${value.toFixed(1)} ms`;

/**
 * Embedded mode under load: API signup and status latency, and what the gateway adds to a
 * request compared with calling the tenant's process directly.
 */
const embedded: Section = {
  id: 'embedded',
  title: 'Embedded mode',
  async run(context) {
    const dynamo = await context.dynamo();
    const tables = await freshTables(dynamo.endpoint, 'embedded');
    const env = {
      DORMOUSE_API_PORT: '0',
      DORMOUSE_GATEWAY_PORT: '0',
      DORMOUSE_DYNAMODB_ENDPOINT: dynamo.endpoint,
      DORMOUSE_TABLE_NAME: tables.tenantTable,
      DORMOUSE_IDEMPOTENCY_TABLE_NAME: tables.idempotencyTable,
      DORMOUSE_ADMIN_TOKEN: ADMIN,
      DORMOUSE_MAX_TENANTS: '100000',
      // Hundreds of signups from this one address: the limit stays on (its write is measured) but high.
      DORMOUSE_SIGNUPS_PER_HOUR: '1000000',
      DORMOUSE_SWEEP_SECONDS: '3600',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    };
    context.progress('embedded mode: starting the API');
    // The API alone for its latency: hundreds of signups would otherwise also start hundreds
    // of tenant processes on this machine and measure those instead.
    const control = await startEmbedded(env, { apiOnly: true });
    const rows: Row[] = [];
    let stopRuntime = async () => {};
    try {
      const api = new URL(control.apiUrl);
      const signups = 300;
      context.progress(`embedded mode: ${signups} signups, ${CONCURRENCY} at a time`);
      const signup = await load(
        signups,
        (index) =>
          timed(new URL('/tenants', api), {
            method: 'POST',
            body: JSON.stringify({ slug: `bench-${index}`, email: `b${index}@bench.test` }),
          }),
        202,
      );
      const reads = 2_000;
      context.progress(`embedded mode: ${reads} status reads`);
      const status = await load(reads, (index) => timed(new URL(`/tenants/bench-${index % signups}`, api)), 200);
      rows.push(
        {
          section: 'Embedded mode',
          case: `POST /tenants ×${signups}, ${CONCURRENCY} concurrent`,
          metric: 'Latency p50 / p99',
          value: `${ms(percentile(signup, 50))} / ${ms(percentile(signup, 99))}`,
          data: { p50: percentile(signup, 50), p99: percentile(signup, 99) },
        },
        {
          section: 'Embedded mode',
          case: `GET /tenants/{id} ×${reads}, ${CONCURRENCY} concurrent`,
          metric: 'Latency p50 / p99',
          value: `${ms(percentile(status, 50))} / ${ms(percentile(status, 99))}`,
          data: { p50: percentile(status, 50), p99: percentile(status, 99) },
        },
      );

      // A full embedded control plane with one tenant, for the gateway.
      context.progress('embedded mode: starting the control plane with one tenant');
      const runtimeTables = await freshTables(dynamo.endpoint, 'embedded-gw');
      const runtime = await startEmbedded(
        { ...env, DORMOUSE_TABLE_NAME: runtimeTables.tenantTable, DORMOUSE_IDEMPOTENCY_TABLE_NAME: runtimeTables.idempotencyTable },
        { onError: () => {} },
      );
      stopRuntime = async () => {
        await runtime.stop();
        await runtimeTables.drop();
      };
      const runtimeApi = new URL(runtime.apiUrl);
      await timed(new URL('/tenants', runtimeApi), { method: 'POST', body: JSON.stringify({ slug: 'bench-0', email: 'b0@bench.test' }) });
      const gateway = new URL(runtime.gatewayUrl);
      const deadline = Date.now() + 30_000;
      while ((await timed(new URL('/whoami', gateway), { host: 'bench-0.localhost' })).status !== 200) {
        if (Date.now() > deadline) throw new Error('bench-0 never started');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const listing = JSON.parse(
        await new Promise<string>((resolve, reject) => {
          const req = request(
            {
              host: runtimeApi.hostname,
              port: runtimeApi.port,
              path: '/tenants?phase=Running',
              headers: { authorization: `Bearer ${ADMIN}` },
            },
            (res) => {
              let text = '';
              res.on('data', (chunk) => (text += chunk));
              res.on('end', () => resolve(text));
            },
          );
          req.on('error', reject);
          req.end();
        }),
      ) as { items: Array<{ id: string; status: { task?: { ip?: string } } }> };
      const address = listing.items.find((item) => item.id === 'bench-0')?.status.task?.ip;
      if (!address) throw new Error('bench-0 has no address');
      const proxied = 2_000;
      context.progress(`embedded mode: ${proxied} requests through the gateway and ${proxied} direct`);
      const direct = await load(proxied, () => timed(new URL(`http://${address}/whoami`)), 200);
      const viaGateway = await load(proxied, () => timed(new URL('/whoami', gateway), { host: 'bench-0.localhost' }), 200);
      rows.push({
        section: 'Embedded mode',
        case: `GET /whoami ×${proxied}, ${CONCURRENCY} concurrent`,
        metric: 'Gateway added latency p50 / p99',
        value:
          `${ms(percentile(viaGateway, 50) - percentile(direct, 50))} / ${ms(percentile(viaGateway, 99) - percentile(direct, 99))} ` +
          `(through the gateway ${ms(percentile(viaGateway, 50))} / ${ms(percentile(viaGateway, 99))}, direct ${ms(percentile(direct, 50))} / ${ms(percentile(direct, 99))})`,
        data: {
          direct: { p50: percentile(direct, 50), p99: percentile(direct, 99) },
          gateway: { p50: percentile(viaGateway, 50), p99: percentile(viaGateway, 99) },
        },
      });
    } finally {
      await stopRuntime();
      await control.stop();
      await tables.drop();
    }
    return {
      rows,
      notes: [
        `Embedded mode: real HTTP on loopback, ${CONCURRENCY} requests in flight, the API on DynamoDB Local, the demo tenant app as a child process. ` +
          'Latency is measured by the client on this machine, which also runs the server, DynamoDB Local and the tenant.',
      ],
    };
  },
};

export default embedded;
