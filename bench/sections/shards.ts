import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { translatingAwsErrors } from '../../shared/adapters/aws/aws-errors.js';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { ElbRouting } from '../../shared/adapters/aws/elb-routing.js';
import { Route53Dns } from '../../shared/adapters/aws/route53-dns.js';
import { toObservedTask } from '../../shared/adapters/aws/ecs-compute.js';
import { handleTaskEvent } from '../../shared/app/task-event.js';
import { ReconcileLoop } from '../../shared/adapters/local/reconcile-loop.js';
import { reconcile, type ReconcileResult, type ReconcileSettings } from '../../shared/app/reconcile.js';
import { shardOf } from '../../shared/domain/tenant.js';
import { systemClock } from '../../shared/ports/clock.js';
import { BASE_URL } from '../lib/api.js';
import { freshTables, startSharedDynamoDb, type BenchTables } from '../lib/dynamodb.js';
import { DEPLOYED_CONFIG, INSTALLATION, reconcilerOver } from '../lib/reconciler.js';
import type { Row, Section, SectionResult } from '../lib/types.js';
import { BURST_SETTINGS, BURST_TIMINGS, ECS_RUN_TASK, FARGATE_LAUNCHES, movingOnItsOwn, signUpAll } from '../lib/burst-world.js';
import { ALL_LISTENER_ARNS, AwsModel, ELB_HOSTED_ZONE_ID, HOSTED_ZONE_ID, type RateLimit } from '../../test/support/aws-model.js';

/**
 * A thousand awake tenants over eleven shards (`DORMOUSE_SHARDS=11`, 91 routing slots each:
 * 1 001 in all). The signups are recorded through the API handler into DynamoDB Local, then all
 * their events arrive at once and the real reconcile use case, with the real ElbRouting and
 * Route53Dns, places each tenant on a shard, points its DNS record, and starts its task, against
 * the AWS model of the tests with ECS's and Route 53's published rates enforced. Real clock,
 * shortened reconciler timings, as in the burst section.
 *
 * Watched while it runs, after every reconcile and every 100 ms: the host rules on each shard's
 * listener (the model) and each shard's slot counter (the store); at the end, every tenant's
 * tasks, rules and DNS records, and that its record points at its own shard's load balancer.
 */

const TENANTS = Number(process.env.BENCH_SHARDS_TENANTS ?? 1000);
const SHARDS = 11;
const SLOTS_PER_SHARD = 91;
const DOMAIN = new URL(BASE_URL).hostname;

/** ECS's rates, as the burst section enforces them; Route 53's 5 requests a second per account, reads included. */
const ROUTE53_REQUESTS: RateLimit = {
  name: 'Route 53 requests',
  operations: ['ChangeResourceRecordSets', 'ListResourceRecordSets'],
  capacity: 5,
  refillPerSecond: 5,
  errorName: 'Throttling',
  source: 'Route 53 API quotas: five requests per second per AWS account, HTTP 400 Throttling past it',
};
/** Route 53's published rate, for every request (reads included): 5 a second per account. */
const ROUTE53_PER_SECOND = 5;
const ELB_DESCRIBE_PER_SECOND = 10;

const TIMINGS = BURST_TIMINGS;
const SETTINGS: Partial<ReconcileSettings> = { ...BURST_SETTINGS, maxActiveTenants: SLOTS_PER_SHARD, shards: SHARDS };
/** A loaded machine slows DynamoDB Local several-fold; past this the row reports how far it got. */
const RUN_LIMIT_MS = Number(process.env.BENCH_SHARDS_LIMIT_MS ?? 240_000);

/** Each shard's load balancer as Route 53 aliases it. */
const loadBalancerDnsName = (shard: number) => `dormouse-${shard}-${1_000_000 + shard}.us-east-1.elb.amazonaws.com`;
const slugOf = (index: number) => `shard-${String(index).padStart(4, '0')}`;

const sumOf = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);
const listOf = (record: Record<string, number>) =>
  Object.entries(record)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ') || 'none';

/** How long tenants took to Running, how late ECS's task events were sent, and what became of them. */
function timelineOf(toRunningMs: number[], eventLateMs: number, taskEvents: Record<string, number>) {
  const sorted = [...toRunningMs].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return {
    toRunningMs: { p50: at(0.5), p90: at(0.9), max: at(1) },
    eventLateMs,
    taskEvents,
  };
}

/** The most ever seen per shard, from two sources sampled independently. */
class ShardWatch {
  readonly rules = Array.from({ length: SHARDS }, () => 0);
  readonly counters = Array.from({ length: SHARDS }, () => 0);
  /** Rules seen on listeners beyond the installation's shards. */
  strayRules = 0;
  samples = 0;

  sampleModel(aws: AwsModel): void {
    const perShard = aws.rulesPerShard();
    perShard.forEach((count, shard) => {
      if (shard < SHARDS) this.rules[shard] = Math.max(this.rules[shard]!, count);
      else this.strayRules += count;
    });
    this.samples += 1;
  }

  async sampleStore(store: DynamoDbTenantStore): Promise<void> {
    const counts = await store.routingSlotsByShard(SHARDS);
    counts.forEach((count, shard) => (this.counters[shard] = Math.max(this.counters[shard]!, count)));
  }
}

async function run(tables: BenchTables, progress: (message: string) => void) {
  const aws = new AwsModel({
    now: () => Date.now(),
    timings: TIMINGS,
    limits: [ECS_RUN_TASK, ROUTE53_REQUESTS],
    fargateLaunches: FARGATE_LAUNCHES,
  });
  const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const listenerArns = ALL_LISTENER_ARNS.slice(0, SHARDS);
  const deps = {
    ...reconcilerOver(aws, store, systemClock, SETTINGS),
    routing: translatingAwsErrors(
      new ElbRouting({ ...DEPLOYED_CONFIG.elb, listenerArn: listenerArns, client: aws.elbClient, installation: INSTALLATION }),
    ),
    dns: translatingAwsErrors(
      new Route53Dns({
        client: aws.route53Client,
        hostedZoneId: HOSTED_ZONE_ID,
        domain: DOMAIN,
        loadBalancers: listenerArns.map((_, shard) => ({ dnsName: loadBalancerDnsName(shard), hostedZoneId: ELB_HOSTED_ZONE_ID })),
      }),
    ),
  };
  const watch = new ShardWatch();
  const last = new Map<string, ReconcileResult>();
  const errors: Record<string, number> = {};
  let running = 0;
  let runs = 0;
  let reachedAt: number | undefined;
  let started = 0;
  /** Per tenant: when it was first seen Running, and the longest timer a reconcile asked for. */
  const runningAt = new Map<string, number>();
  const taskEvents: Record<string, number> = {};
  let eventLateMs = 0;
  const isRunning = (result: ReconcileResult | undefined) => result?.phase === 'Running' && result.requeueAfterMs === undefined;
  const loop = new ReconcileLoop({
    reconcile: async (tenantId) => {
      const result = await reconcile(deps, tenantId);
      runs += 1;
      watch.sampleModel(aws);
      running += Number(isRunning(result)) - Number(isRunning(last.get(tenantId)));
      last.set(tenantId, result);
      if (isRunning(result) && !runningAt.has(tenantId)) runningAt.set(tenantId, performance.now() - started);
      if (running >= TENANTS && reachedAt === undefined) reachedAt = performance.now();
      return result;
    },
    onError: (_tenantId, error) => {
      const name = (error as Error).name ?? 'Error';
      errors[name] = (errors[name] ?? 0) + 1;
    },
    retryMs: 500,
  });
  // ECS task state changes reach the record as the task-events function writes them; a write
  // that lands gets the tenant reconciled, as the table's stream does.
  aws.onTaskChange = ({ detail, at }) => {
    // How long after the change ECS (the model) sent it.
    eventLateMs = Math.max(eventLateMs, Date.now() - at);
    const task = toObservedTask(detail);
    if (!task) return;
    void handleTaskEvent({ store, clock: systemClock }, { task, version: detail.version }).then(
      (outcome) => {
        const key = `${task.lastStatus} ${outcome}`;
        taskEvents[key] = (taskEvents[key] ?? 0) + 1;
        if (outcome === 'applied') loop.trigger(task.tenantId);
      },
      (error: unknown) => (errors[`task event: ${(error as Error).name}`] = (errors[`task event: ${(error as Error).name}`] ?? 0) + 1),
    );
  };
  let stopClock = () => {};
  try {
    const signups = await signUpAll(tables, TENANTS, slugOf);
    progress(
      `shards: ${signups.accepted.length}/${TENANTS} signups recorded in ${(signups.ms / 1000).toFixed(1)} s; triggering them all at once`,
    );
    aws.resetHistory();
    stopClock = movingOnItsOwn(aws);
    started = performance.now();
    for (const id of signups.accepted) loop.trigger(id);
    let nextReport = started + 10_000;
    while (running < signups.accepted.length && performance.now() - started < RUN_LIMIT_MS) {
      watch.sampleModel(aws);
      await watch.sampleStore(store);
      if (performance.now() > nextReport) {
        progress(
          `shards: ${running}/${signups.accepted.length} Running, ${aws.tasksLaunched} tasks, ${sumOf(aws.throttled)} throttled calls`,
        );
        nextReport += 10_000;
      }
      await sleep(100);
    }
    const untilRunningMs = (reachedAt ?? performance.now()) - started;
    await loop.stop();
    watch.sampleModel(aws);
    await watch.sampleStore(store);

    // Every tenant: its tasks, its rules, its records, and where they point.
    const live = aws.liveTasks();
    const records = new Map<string, number>();
    for (const set of aws.allRecordSets()) records.set(set.Name!, (records.get(set.Name!) ?? 0) + 1);
    const wrong = { twoTasks: 0, noTask: 0, twoRules: 0, twoRecords: 0, noRecord: 0, recordElsewhere: 0, ruleElsewhere: 0 };
    const perShard = Array.from({ length: SHARDS }, () => 0);
    for (const id of signups.accepted) {
      const tenant = await store.get(id);
      const shard = tenant ? shardOf(tenant) : -1;
      if (tenant?.status.shard !== undefined && shard < SHARDS) perShard[shard]! += 1;
      const tasks = live.get(id) ?? 0;
      if (tasks > 1) wrong.twoTasks += 1;
      if (tasks === 0) wrong.noTask += 1;
      const rules = aws.rulesOf(id);
      if (rules.length > 1) wrong.twoRules += 1;
      if (rules.some((rule) => rule.shard !== shard)) wrong.ruleElsewhere += 1;
      const name = `${id}.${DOMAIN}.`;
      const sets = aws.recordSetsNamed(name);
      if ((records.get(name) ?? 0) > 1) wrong.twoRecords += 1;
      if (sets.length === 0) wrong.noRecord += 1;
      const expected = `dualstack.${loadBalancerDnsName(shard)}.`;
      if (sets.some((set) => set.AliasTarget?.DNSName !== expected || set.AliasTarget.HostedZoneId !== ELB_HOSTED_ZONE_ID)) {
        wrong.recordElsewhere += 1;
      }
    }
    const strayRecords = aws.allRecordSets().length - signups.accepted.length + wrong.noRecord;
    return {
      done: reachedAt !== undefined,
      signups: { accepted: signups.accepted.length, ms: signups.ms },
      untilRunningMs,
      running,
      perShard,
      watch,
      wrong,
      strayRecords,
      tasksLaunched: aws.tasksLaunched,
      throttled: { ...aws.throttled },
      calls: aws.callCountsByService(),
      reconcileRuns: runs,
      errors,
      timeline: timelineOf([...runningAt.values()], eventLateMs, taskEvents),
    };
  } finally {
    stopClock();
    await loop.stop();
    aws.restore();
  }
}

function rows(result: Awaited<ReturnType<typeof run>>): Row[] {
  const section = 'Shards';
  const title = `${TENANTS} tenants, ${SHARDS} shards × ${SLOTS_PER_SHARD} slots`;
  const n = result.signups.accepted;
  const maxRules = Math.max(...result.watch.rules);
  const maxCounter = Math.max(...result.watch.counters);
  const w = result.wrong;
  const t = result.timeline;
  const perTenant = (count: number) => (count / n).toFixed(2);
  const services = Object.entries(result.calls).map(([service, ops]) => [service, sumOf(ops), ops] as const);
  const route53 = result.calls['Route 53'] ?? {};
  const route53Total = sumOf(route53);
  const elbDescribes = sumOf(Object.fromEntries(Object.entries(result.calls.ELBv2 ?? {}).filter(([name]) => name.startsWith('Describe'))));
  return [
    {
      section,
      case: title,
      metric: 'Until all Running',
      value: result.done
        ? `${(result.untilRunningMs / 1000).toFixed(1)} s from the burst of events, Route 53's rate enforced on every request ` +
          `(before, each record read first: not reached in 420 s, 255 Running) (${n} signups recorded in ${(result.signups.ms / 1000).toFixed(0)} s)`
        : `not reached in ${RUN_LIMIT_MS / 1000} s: ${result.running} Running`,
      target: 'all Running',
      pass: result.done && n === TENANTS,
      data: { untilRunningMs: result.untilRunningMs, signups: result.signups },
    },
    {
      section,
      case: title,
      metric: 'Each tenant to Running',
      value:
        `p50 ${(t.toRunningMs.p50 / 1000).toFixed(1)} s, p90 ${(t.toRunningMs.p90 / 1000).toFixed(1)} s, last ${(t.toRunningMs.max / 1000).toFixed(1)} s; ` +
        `task state changes sent ≤ ${t.eventLateMs} ms after they happened (before, the model sent them only when next called: up to 60 s late, ` +
        `at the reconciler's safety-net look); ECS task events as the task-events function took them: ${listOf(t.taskEvents)}`,
      data: t,
    },
    {
      section,
      case: title,
      metric: 'Most slots held per shard',
      value:
        `rules ${maxRules}, slot counter ${maxCounter} of ${SLOTS_PER_SHARD} at most on any shard ` +
        `(${result.watch.samples} samples; per shard at the end: ${result.perShard.join(' ')}); ${result.watch.strayRules} rules on other listeners`,
      target: `≤ ${SLOTS_PER_SHARD} on every shard`,
      pass: maxRules <= SLOTS_PER_SHARD && maxCounter <= SLOTS_PER_SHARD && result.watch.strayRules === 0,
      data: { rules: result.watch.rules, counters: result.watch.counters, perShard: result.perShard },
    },
    {
      section,
      case: title,
      metric: 'Tasks, rules, DNS records',
      value:
        `${result.tasksLaunched} tasks launched; tenants with two tasks ${w.twoTasks}, two rules ${w.twoRules}, two DNS records ${w.twoRecords}, ` +
        `a record on another shard's load balancer ${w.recordElsewhere}, a rule on another shard ${w.ruleElsewhere}; ` +
        `without a task ${w.noTask}, without a record ${w.noRecord}; records of no tenant ${result.strayRecords}`,
      target: 'one of each, on its own shard',
      pass: Object.values(w).every((count) => count === 0) && result.strayRecords === 0 && result.tasksLaunched === n,
      data: { ...w, strayRecords: result.strayRecords, tasksLaunched: result.tasksLaunched },
    },
    {
      section,
      case: title,
      metric: 'AWS calls per tenant',
      value:
        services.map(([service, total, ops]) => `${service} ${perTenant(total)} (${listOf(ops)})`).join('; ') +
        `; ${result.reconcileRuns} reconcile runs; throttled: ${listOf(result.throttled)}; reconcile errors: ${listOf(result.errors)}`,
      data: { calls: result.calls, throttled: result.throttled, reconcileRuns: result.reconcileRuns, errors: result.errors },
    },
    {
      section,
      case: title,
      metric: 'Route 53 against its rate',
      value:
        `${route53Total} requests (${perTenant(route53Total)} a tenant: ${listOf(route53)}): at ${ROUTE53_PER_SECOND}/s per account they need ≥ ` +
        `${Math.ceil(route53Total / ROUTE53_PER_SECOND)} s, the changes alone ${Math.ceil((route53.ChangeResourceRecordSets ?? 0) / ROUTE53_PER_SECOND)} s ` +
        `(${((route53.ChangeResourceRecordSets ?? 0) / n).toFixed(3)} change requests a tenant, ${result.throttled.ChangeResourceRecordSets ?? 0} throttled; before, ` +
        `each record read first: 169 338 reads, 167 305 of them throttled, and 635 change requests); ELBv2 Describe* ${elbDescribes}, ≥ ${Math.ceil(elbDescribes / ELB_DESCRIBE_PER_SECOND)} s at ${ELB_DESCRIBE_PER_SECOND}/s`,
      data: { route53, elbDescribes },
    },
  ];
}

const shards: Section = {
  id: 'shards',
  title: 'Shards',
  async run({ progress }): Promise<SectionResult> {
    // A DynamoDB Local of its own: a thousand tenants' writes slow a shared one for the sections after.
    const loadBefore = os.loadavg()[0]!;
    const local = await startSharedDynamoDb();
    let result: Awaited<ReturnType<typeof run>>;
    try {
      const tables = await freshTables(local.endpoint, 'shards');
      try {
        result = await run(tables, progress);
      } finally {
        tables.client.destroy();
      }
    } finally {
      await local.stop();
    }
    const load = `load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end, on ${os.cpus().length} cores`;
    return {
      rows: rows(result),
      notes: [
        `Shards: the reconcile use case with DORMOUSE_SHARDS=${SHARDS} and ${SLOTS_PER_SHARD} slots per shard, the real ElbRouting over ${SHARDS} listeners ` +
          `and Route53Dns (batch window 50 ms, up to 500 changes a request), on the AWS model; ECS mocks enforce ${ECS_RUN_TASK.name} ` +
          `(burst ${ECS_RUN_TASK.capacity}, ${ECS_RUN_TASK.refillPerSecond}/s) and ${FARGATE_LAUNCHES.name} (burst ${FARGATE_LAUNCHES.capacity}, ` +
          `${FARGATE_LAUNCHES.refillPerSecond}/s), the Route 53 mock every request, ListResourceRecordSets included, ` +
          `at ${ROUTE53_REQUESTS.refillPerSecond}/s per account (burst of ${ROUTE53_REQUESTS.capacity}, Throttling past it, as Route 53 reports it).`,
        `Shards: most slots per shard are the host rules on each shard's listener in the model, sampled after every reconcile and every 100 ms, and ` +
          "each shard's slot counter in DynamoDB, read every 100 ms; tasks, rules, records and the shard each record aliases are checked for every " +
          'tenant at the end. Timings as in the burst section (tasks run 1 s after RunTask, poll 250 ms, backoff 250 ms…4 s; task state changes sent as they happen, the model moved on every 10 ms, and delivered as events, as the task-events function writes them). ' +
          `The time until all Running is mostly DynamoDB Local's (one JVM, transactions one at a time) and grows with the machine's load: ${load}.`,
      ],
      details: {
        shards: { ...result, watch: { rules: result.watch.rules, counters: result.watch.counters, samples: result.watch.samples } },
      },
    };
  },
};

export default shards;
