import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { startEmbedded } from '../../shared/adapters/local/embedded.js';
import { tenantItem } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { keys } from '../../shared/adapters/aws/tenant-table.js';
import { startGatewayThread, type GatewayThread } from '../../shared/adapters/local/gateway-thread.js';
import { GatewayRouting } from '../../shared/adapters/local/gateway-routing.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { freshTables, putItems } from '../lib/dynamodb.js';
import { runHttpLoad, runInterleavedLoad } from '../lib/http-load.js';
import { NGINX, startNginxProxy, type NginxProxy } from '../lib/nginx.js';
import type { Row } from '../lib/types.js';
import type { Section } from '../lib/types.js';

const ADMIN = 'admin-token-for-the-bench-0123456789';
const CONCURRENCY = 16;
/** Measurements alternate in rounds, so that a change in the machine's load meets each of them alike. */
const ROUNDS = 8;
const SECTION = 'Embedded mode';
/** Tenants whose rules the crowded gateway's routing holds. */
const CROWD = 1_000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

interface Summary {
  p50: number;
  p99: number;
}
const summary = (latencies: number[]): Summary => ({ p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
const both = ({ p50, p99 }: Summary) => `${ms(p50)} / ${ms(p99)}`;
const added = (via: Summary, direct: Summary): Summary => ({ p50: via.p50 - direct.p50, p99: via.p99 - direct.p99 });

/** Signups in flight while the gateway is measured under a busy control plane. */
const SIGNUPS_IN_FLIGHT = 4;

/** Runs `measure` while signups go to the API, SIGNUPS_IN_FLIGHT at a time; reports their rate. */
async function whileSigningUp<T>(apiUrl: string, measure: () => Promise<T>): Promise<{ result: T; perSecond: number }> {
  let stop = false;
  let batch = 0;
  const started = performance.now();
  const signups = (async () => {
    let count = 0;
    while (!stop) {
      const slug = `busy-${batch++}-{i}`;
      await runHttpLoad({
        url: `${apiUrl}/tenants`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slug, email: `${slug}@bench.test` }),
        count: 40,
        concurrency: SIGNUPS_IN_FLIGHT,
        expected: 202,
      });
      count += 40;
    }
    return count;
  })();
  // Handled at once: a failed signup must not be an unhandled rejection while the measurement runs.
  signups.catch(() => {});
  try {
    const result = await measure();
    stop = true;
    const count = await signups;
    return { result, perSecond: (count * 1_000) / (performance.now() - started) };
  } finally {
    stop = true;
    await signups.catch(() => {});
  }
}

/** Runs `count` calls in the bench's own process, `concurrency` at a time, and returns their latencies sorted. */
async function inProcess(count: number, concurrency: number, call: (index: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        const started = performance.now();
        await call(index);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return sorted(latencies);
}

/** Each measurement in turn, ROUNDS times, after one unmeasured round (the JIT of Node and of DynamoDB Local warms up). */
async function alternate(measures: Record<string, () => Promise<number[]>>): Promise<Record<string, number[]>> {
  const all = new Map(Object.keys(measures).map((name) => [name, [] as number[]]));
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, measure] of Object.entries(measures)) {
      const latencies = await measure();
      if (round > 0) all.get(name)!.push(...latencies);
    }
  }
  return Object.fromEntries([...all].map(([name, latencies]) => [name, sorted(latencies)]));
}

function getJson<T>(url: URL, headers: Record<string, string>): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(JSON.parse(text) as T));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A gateway whose routing holds the rules of CROWD tenants, `host`'s among them and forwarding to
 * the same process as the control plane's gateway: what a gateway adds once many have signed up.
 */
async function crowdedGateway(
  host: string,
  address: string,
): Promise<{ url: string; thread: GatewayThread; routing: GatewayRouting; stop(): Promise<void> }> {
  const routing = new GatewayRouting();
  for (let i = 1; i < CROWD; i++) {
    await routing.createRule(`crowd-${i}`, `crowd-${i}.localhost`, await routing.ensureTargetGroup(`crowd-${i}`));
  }
  const arn = await routing.ensureTargetGroup('bench-0');
  await routing.createRule('bench-0', host, arn);
  await routing.registerTarget(arn, address);
  const deadline = Date.now() + 10_000;
  while (!(await routing.targets(arn)).some((target) => target.health === 'healthy')) {
    if (Date.now() > deadline) throw new Error('the crowded gateway never found bench-0 healthy');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const thread = await startGatewayThread({
    gateways: [{ port: 0 }],
    routing,
    fallback: async () => ({ statusCode: 503 }),
    logger: { warn: () => {}, error: () => {} },
  });
  return {
    url: thread.gateways[0]!.url,
    thread,
    routing,
    stop: async () => {
      await thread.close();
      routing.close();
    },
  };
}

/** The time one routing lookup takes, in µs: the best of a few runs, so a pause of the machine does not count. */
function lookupMicros(routing: GatewayRouting, host: string, lookups = 100_000): number {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    for (let i = 0; i < lookups; i++) routing.route(host);
    best = Math.min(best, performance.now() - started);
  }
  return (best * 1_000) / lookups;
}

/**
 * Embedded mode under load: signup and status latency (with a raw DynamoDB Local GetItem beside
 * it, to show the store's own share), and what the gateway adds to a request to the tenant's
 * process, beside what nginx adds proxying the same tenant in the same run.
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
    const notes: string[] = [];
    let stopRuntime = async () => {};
    let nginx: NginxProxy | undefined;
    let crowded: Awaited<ReturnType<typeof crowdedGateway>> | undefined;
    try {
      const api = control.apiUrl;
      const signups = 300;
      context.progress(`embedded mode: ${signups} signups, ${CONCURRENCY} at a time`);
      const signup = await runHttpLoad({
        url: `${api}/tenants`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'bench-{i}', email: 'b{i}@bench.test' }),
        count: signups,
        concurrency: CONCURRENCY,
        expected: 202,
      });
      rows.push({
        section: SECTION,
        case: `POST /tenants ×${signups}, ${CONCURRENCY} concurrent`,
        metric: 'Latency p50 / p99',
        value: both(summary(signup)),
        data: { ...summary(signup) },
      });

      const reads = 250;
      // Records the API has not read or written: the bench writes them straight into the table,
      // a block per round, so that every read of one goes to DynamoDB Local.
      const unseen = (round: number) => `unseen-${round}-`;
      const now = new Date();
      await putItems(
        tables,
        Array.from({ length: (ROUNDS + 1) * reads }, (_, index) =>
          tenantItem(
            newTenant({
              slug: `${unseen(Math.floor(index / reads))}${index % reads}`,
              email: `u${index}@bench.test`,
              plan: 'trial',
              tokenHash: 'bench',
              now,
              trialDays: 14,
            }),
          ),
        ),
      );
      context.progress(`embedded mode: status reads and raw GetItems, ${ROUNDS} rounds of ${reads} each`);
      let getItemRound = 0;
      let unseenRound = 0;
      const status = await alternate({
        getItem: () => {
          const prefix = unseen(getItemRound++);
          return inProcess(reads, CONCURRENCY, (index) =>
            tables.documentClient.send(
              new GetCommand({ TableName: tables.tenantTable, Key: { pk: keys.tenant(`${prefix}${index}`) }, ConsistentRead: true }),
            ),
          );
        },
        unseen: () =>
          runHttpLoad({ url: `${api}/tenants/${unseen(unseenRound++)}{i}`, count: reads, concurrency: CONCURRENCY, expected: 200 }),
        api: () =>
          runHttpLoad({ url: `${api}/tenants/bench-{i}`, distinct: signups, count: reads, concurrency: CONCURRENCY, expected: 200 }),
      });
      const read = summary(status.api!);
      const readFromStore = summary(status.unseen!);
      const getItem = summary(status.getItem!);
      rows.push(
        {
          section: SECTION,
          case: `GET /tenants/{id} ×${ROUNDS * reads}, ${CONCURRENCY} concurrent`,
          metric: 'Latency p50 / p99',
          value: both(read),
          target: '≤ 20 ms p50',
          pass: read.p50 <= 20,
          data: { ...read },
        },
        {
          section: SECTION,
          case: `GET /tenants/{id} of records the API has not seen yet ×${ROUNDS * reads}, ${CONCURRENCY} concurrent`,
          metric: 'Latency p50 / p99',
          value: both(readFromStore),
          data: { ...readFromStore },
        },
        {
          section: SECTION,
          case: `DynamoDB Local GetItem (consistent) ×${ROUNDS * reads}, ${CONCURRENCY} concurrent`,
          metric: 'Latency p50 / p99',
          value: both(getItem),
          data: { ...getItem },
        },
        {
          section: SECTION,
          case: `GET /tenants/{id} of unseen records over a raw GetItem, ${CONCURRENCY} concurrent`,
          metric: "The API's overhead p50 / p99",
          value: both(added(readFromStore, getItem)),
          data: { ...added(readFromStore, getItem) },
        },
      );

      // A full embedded control plane with one tenant, for the gateway.
      context.progress('embedded mode: starting the control plane with one tenant');
      const runtimeTables = await freshTables(dynamo.endpoint, 'embedded-gw');
      const runtime = await startEmbedded(
        {
          ...env,
          DORMOUSE_TABLE_NAME: runtimeTables.tenantTable,
          DORMOUSE_IDEMPOTENCY_TABLE_NAME: runtimeTables.idempotencyTable,
          // bench-0 runs; the signups taken while the gateway is measured are queued, not started.
          DORMOUSE_MAX_ACTIVE_TENANTS: '1',
        },
        { onError: () => {} },
      );
      stopRuntime = async () => {
        await runtime.stop();
        await runtimeTables.drop();
      };
      await runHttpLoad({
        url: `${runtime.apiUrl}/tenants`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'bench-0', email: 'b0@bench.test' }),
        count: 1,
        concurrency: 1,
        expected: 202,
      });
      const host = 'bench-0.localhost';
      const deadline = Date.now() + 30_000;
      let address: string | undefined;
      while (!address) {
        if (Date.now() > deadline) throw new Error('bench-0 never started');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const listing = await getJson<{ items: Array<{ id: string; status: { task?: { ip?: string } } }> }>(
          new URL('/tenants?phase=Running', runtime.apiUrl),
          { authorization: `Bearer ${ADMIN}` },
        );
        address = listing.items.find((item) => item.id === 'bench-0')?.status.task?.ip;
      }
      // Running is recorded once the gateway's health check passed: it routes from now on.
      nginx = await startNginxProxy(address);
      if (!nginx) notes.push(`nginx is not installed (${NGINX}): the row comparing the gateway with it is left out.`);
      context.progress(`embedded mode: a second gateway with ${CROWD} tenants' rules`);
      crowded = await crowdedGateway(host, address);
      const lookup = lookupMicros(crowded.routing, host);
      rows.push({
        section: SECTION,
        case: `Routing lookup with ${CROWD} tenants' rules`,
        metric: 'Time per request',
        value: `${lookup.toFixed(2)} µs`,
        data: { micros: lookup, rules: CROWD },
      });

      const proxied = 3_000;
      for (const concurrency of [1, CONCURRENCY]) {
        const inFlight = concurrency === 1 ? 'one at a time' : `${concurrency} concurrent`;
        // Each gateway in a pass of its own, beside direct requests and nginx: embedded mode runs
        // one gateway thread, and a second one busy at the same time would take CPU from the first.
        const pass = async (name: string, gatewayUrl: string, load: GatewayThread['eventLoopUtilization']) => {
          context.progress(`embedded mode: GET /whoami direct, through ${name} and through nginx in turn, ${concurrency} in flight`);
          const targets = [
            { url: `http://${address}/whoami` },
            { url: `${gatewayUrl}/whoami`, host },
            ...(nginx ? [{ url: `${nginx.url}/whoami`, host }] : []),
          ];
          // One unmeasured run first: Node's JIT and the connections warm up.
          await runInterleavedLoad({ count: 300, concurrency, expected: 200 }, targets);
          // The gateway thread's busy time: a figure far steadier from run to run than latency.
          const busyBefore = load();
          const [direct, through, viaNginx] = await runInterleavedLoad(
            { count: proxied * targets.length, concurrency, expected: 200 },
            targets,
          );
          const busyMicros = (load(busyBefore).active * 1_000) / proxied;
          return { direct: summary(direct!), through: summary(through!), ...(viaNginx ? { nginx: summary(viaNginx) } : {}), busyMicros };
        };
        const own = await pass('the gateway', runtime.gatewayUrl, runtime.gatewayLoad!);
        const gateway = added(own.through, own.direct);
        rows.push({
          section: SECTION,
          case: `GET /whoami through the gateway ×${proxied}, ${inFlight}`,
          metric: 'Added latency p50 / p99',
          value: `${both(gateway)} (through it ${both(own.through)}, direct ${both(own.direct)})`,
          target: '≤ 1 ms / ≤ 3 ms',
          pass: gateway.p50 <= 1 && gateway.p99 <= 3,
          data: { added: gateway, direct: own.direct, through: own.through },
        });
        rows.push({
          section: SECTION,
          case: `GET /whoami through the gateway, ${inFlight}`,
          metric: "The gateway thread's busy time per proxied request",
          value: `${own.busyMicros.toFixed(0)} µs`,
          data: { micros: own.busyMicros },
        });
        if (own.nginx) {
          const reference = added(own.nginx, own.direct);
          const ratio = (a: number, b: number) => (b > 0.05 ? `${(a / b).toFixed(1)}×` : 'n/a');
          rows.push({
            section: SECTION,
            case: `GET /whoami through nginx ×${proxied}, ${inFlight}`,
            metric: 'Added latency p50 / p99 (gateway ÷ nginx)',
            value: `${both(reference)} (${ratio(gateway.p50, reference.p50)} / ${ratio(gateway.p99, reference.p99)})`,
            data: { added: reference, through: own.nginx },
          });
        }
        const many = await pass(`the gateway with ${CROWD} tenants' rules`, crowded.url, crowded.thread.eventLoopUtilization);
        const crowdedAdded = added(many.through, many.direct);
        rows.push({
          section: SECTION,
          case: `GET /whoami through a gateway with ${CROWD} tenants' rules ×${proxied}, ${inFlight}`,
          metric: 'Added latency p50 / p99',
          value: `${both(crowdedAdded)} (through it ${both(many.through)}, direct ${both(many.direct)})`,
          target: '≤ 1 ms / ≤ 3 ms',
          pass: crowdedAdded.p50 <= 1 && crowdedAdded.p99 <= 3,
          data: { added: crowdedAdded, direct: many.direct, through: many.through },
        });
      }

      // The control plane at work meanwhile: each signup is an API call, a stream record and a
      // reconcile that queues the tenant, all on embedded mode's main thread.
      context.progress(`embedded mode: GET /whoami direct and through the gateway, ${CONCURRENCY} in flight, while the API takes signups`);
      const busy = await whileSigningUp(runtime.apiUrl, () =>
        runInterleavedLoad({ count: proxied * 2, concurrency: CONCURRENCY, expected: 200 }, [
          { url: `http://${address}/whoami` },
          { url: `${runtime.gatewayUrl}/whoami`, host },
        ]),
      );
      const [busyDirect, busyThrough] = busy.result.map(summary) as [Summary, Summary];
      const busyAdded = added(busyThrough, busyDirect);
      rows.push({
        section: SECTION,
        case: `GET /whoami through the gateway ×${proxied}, ${CONCURRENCY} concurrent, while the API takes signups (${SIGNUPS_IN_FLIGHT} at a time, ${busy.perSecond.toFixed(0)}/s)`,
        metric: 'Added latency p50 / p99',
        value: `${both(busyAdded)} (through it ${both(busyThrough)}, direct ${both(busyDirect)})`,
        data: { added: busyAdded, direct: busyDirect, through: busyThrough, signupsPerSecond: busy.perSecond },
      });
    } finally {
      await crowded?.stop();
      await nginx?.stop();
      await stopRuntime();
      await control.stop();
      await tables.drop();
    }
    return {
      rows,
      notes: [
        `Embedded mode: real HTTP on loopback, the API on DynamoDB Local, the demo tenant app as a child process. ` +
          'Latency is measured by a client in a worker thread of the bench (keep-alive connections), on this machine, ' +
          'which also runs the API, the gateway, DynamoDB Local and the tenant. ' +
          `The status reads and the raw GetItem pool ${ROUNDS} rounds each, taken in turn after one unmeasured warm-up round. ` +
          'Embedded mode keeps the tenant records it wrote or read in memory (it is the only writer of its table): ' +
          'the signups are read from there; records the bench wrote straight into the table, unseen by the API, are read from DynamoDB Local, ' +
          'and the raw GetItem reads those same records. ' +
          'The requests direct, through a gateway and through nginx go out in turn, request by request, after a warm-up, each gateway in a pass of its own. ' +
          'Added latency is the p50 (p99) through the proxy minus the p50 (p99) direct; ' +
          "the gateway thread's busy time is its event loop's active time during the measured requests (the worker's performance.eventLoopUtilization) over the requests through the gateway; " +
          'nginx proxies with HTTP/1.1 and kept-alive upstream connections, and keeps client connections alive for 5 s, as the gateway does. ' +
          `The gateway with ${CROWD} tenants' rules is a second gateway thread in the same process, idle while the first is measured, whose routing also holds ${CROWD - 1} other hosts' rules; ` +
          'its routing lookup is timed alone too, in the bench process (best of 5 runs of 100 000 lookups). ' +
          `The last pass measures direct requests and requests through the gateway in turn while the API takes signups, ${SIGNUPS_IN_FLIGHT} at a time; ` +
          "bench-0 holds the one active-tenant slot the control plane is given, so they are queued, not started: each is an API call, a stream record and a reconcile on embedded mode's main thread.",
        ...notes,
      ],
    };
  },
};

export default embedded;
