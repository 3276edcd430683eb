import { performance } from 'node:perf_hooks';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetRecordsCommandOutput,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { toObservedTask } from '../../shared/adapters/aws/ecs-compute.js';
import { EventBridgePublisher } from '../../shared/adapters/aws/eventbridge-publisher.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../shared/adapters/local/dynamodb-local.js';
import { toLambdaRecord } from '../../shared/adapters/local/stream-poller.js';
import { publishChanges } from '../../shared/app/publish-changes.js';
import { reconcile, type ReconcileDeps } from '../../shared/app/reconcile.js';
import { handleTaskEvent } from '../../shared/app/task-event.js';
import { TENANT_CHANGED } from '../../shared/domain/domain-events.js';
import { isLeased } from '../../shared/domain/lease.js';
import { costPrices } from '../../shared/domain/prices.js';
import { isSettled, type Tenant } from '../../shared/domain/tenant.js';
import { invocationWatch } from '../../shared/events/reconcile-handler.js';
import { tenantChanges } from '../../shared/adapters/aws/dynamodb-stream-records.js';
import { apiCaller, type ApiCall } from '../lib/api.js';
import { freshTables, type BenchTables, type CapacityTotals } from '../lib/dynamodb.js';
import { AwsModel, type TaskStateChange, type WorldTimings } from '../../test/support/aws-model.js';
import { ManualClock, reconcilerOver } from '../lib/reconciler.js';
import type { Row, Section, SectionResult } from '../lib/types.js';

/**
 * Cost per lifecycle step of one tenant, through the event flow of the design with only the
 * transports simulated: API handler → DynamoDB (Local) → table stream → stream publisher code →
 * EventBridge (mocked PutEvents) → "Tenant Changed" → reconcile use case → ECS/ELBv2 (mocked
 * SDK clients under the real adapters) → ECS task state changes → task-event use case → DynamoDB.
 *
 * Time is simulated: a manual clock jumps to the next thing that happens (a task moving on, a
 * reconcile's requeue), so a Fargate task's 40 s start costs no real time. Deliveries are
 * sequential; on AWS some would overlap, which changes nothing here but the order of writes.
 *
 * The installation has a data path, as the default cdk.json sets one: the tenant gets an EFS
 * access point and a task definition of its own (EFS, ECS task definition and data cleaner calls
 * are counted with the rest), and a Spot handover would be stop-first.
 */

const TIMINGS: WorldTimings = {
  provisioningMs: 15_000,
  pendingMs: 25_000,
  healthyAfterMs: 20_000,
  stoppingMs: 30_000,
  drainingMs: 15_000,
};

/** Memory of each function, from cdk/constructs/control-plane.ts, for GB-seconds. */
const MEMORY_GB = { api: 0.5, reconcile: 0.5, 'task-events': 0.25, 'stream-publisher': 0.25 } as const;
type Fn = keyof typeof MEMORY_GB;

/** The reconcile function's timeout (cdk/constructs/control-plane.ts); its inline waits are the handler's own (invocationWatch). */
const RECONCILE_TIMEOUT_MS = 120_000;
/** The sweep's schedule as deployed (cdk.json: sweepRateMinutes 1). */
const SWEEP_INTERVAL_MS = 60_000;
/** The Pipe hands the publisher at most this many records per invocation (cdk/constructs/event-bus.ts). */
const PIPE_BATCH = 10;
const STEP_LIMIT_MS = 30 * 60_000;

const TENANT = 'acme-trial';

/** An installation with a data path, as the default cdk.json configures one. */
const WITH_DATA = { persistentData: true, handover: 'stop-first' } as const;
/** An installation without one: the control plane's own calls, with no storage calls beside them. */
const WITHOUT_DATA = { persistentData: false, handover: 'stop-first' } as const;
type DataSetting = typeof WITH_DATA | typeof WITHOUT_DATA;

/** A tenant is passivated after its idle timeout and deleted after its trial: time enough for its last task event to age. */
const IDLE_BEFORE_MS = 15 * 60_000;

/**
 * What a visitor waits for that is AWS's own doing, under the timings above: the task's start,
 * then the target's health checks. Whatever a wake or first signup takes beyond it is Dormouse's.
 */
const AWS_SHARE_MS = TIMINGS.provisioningMs + TIMINGS.pendingMs + TIMINGS.healthyAfterMs;
/** Dormouse's share of a wake or first signup, as a visitor waits for it. */
const DORMOUSE_SHARE_TARGET_MS = 1_000;

export interface StepCost {
  step: string;
  calls: Record<string, number>;
  capacity: CapacityTotals;
  invocations: Record<Fn, number>;
  reconcileRuns: number;
  /** Events published to the custom bus, by detail type. */
  events: Record<string, number>;
  /** ECS task state changes (default bus, free). */
  ecsEvents: number;
  /** Records the Pipe passes on after its filter: one Pipes request each. */
  pipeRequests: number;
  gbSeconds: number;
  /** Requeues too long to wait for inside the invocation: the sweep picks these up. */
  leftForSweep: number;
  simulatedMs: number;
  /** Simulated time from the step's request until the tenant first served (Running), when it did. */
  servingAfterMs?: number;
  /** Handler time measured on this machine during the step, waits excluded. */
  handlerMs: number;
}

interface Invocation {
  tenantId: string;
  startedAt: number;
  /** The invocation's request id, which owns its watch; absent for a look by the sweep. */
  owner?: string;
}

class Tally {
  invocations: Record<Fn, number> = { api: 0, reconcile: 0, 'task-events': 0, 'stream-publisher': 0 };
  reconcileRuns = 0;
  events: Record<string, number> = {};
  ecsEvents = 0;
  pipeRequests = 0;
  gbSeconds = 0;
  leftForSweep = 0;

  /** Time the handlers ran on this machine (waits excluded): what Dormouse itself adds to a step. */
  handlerMs = 0;

  bill(fn: Fn, ms: number, { waiting = false } = {}): void {
    this.gbSeconds += (Math.ceil(ms) / 1000) * MEMORY_GB[fn];
    if (!waiting) this.handlerMs += ms;
  }
}

/** Reads the table's stream as the Pipe does, from the start, one call after another. */
class StreamReader {
  private readonly iterators = new Map<string, string>();
  private readonly finished = new Set<string>();

  constructor(
    private readonly streams: DynamoDBStreamsClient,
    private readonly streamArn: string,
  ) {}

  async read(): Promise<DynamoDBRecord[]> {
    const { StreamDescription } = await this.streams.send(new DescribeStreamCommand({ StreamArn: this.streamArn }));
    for (const shard of StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId!;
      if (this.iterators.has(shardId) || this.finished.has(shardId)) continue;
      const { ShardIterator } = await this.streams.send(
        new GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      if (ShardIterator) this.iterators.set(shardId, ShardIterator);
    }
    const records: DynamoDBRecord[] = [];
    for (const [shardId, start] of [...this.iterators]) {
      let iterator: string | undefined = start;
      while (iterator) {
        const output: GetRecordsCommandOutput = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        records.push(...(output.Records ?? []).map(toLambdaRecord));
        if (!output.NextShardIterator) {
          this.iterators.delete(shardId);
          this.finished.add(shardId);
          break;
        }
        this.iterators.set(shardId, output.NextShardIterator);
        iterator = (output.Records ?? []).length > 0 ? output.NextShardIterator : undefined;
      }
    }
    return records;
  }
}

function isTenantRecord(record: DynamoDBRecord): boolean {
  const image = record.dynamodb?.NewImage ?? record.dynamodb?.OldImage;
  return (image as { kind?: { S?: string } } | undefined)?.kind?.S === 'tenant';
}

/** The event flow of the design, driven one delivery at a time on a simulated clock. */
class EventFlow {
  tally = new Tally();
  private readonly taskEvents: TaskStateChange[] = [];
  private delivered = 0;
  private counted = 0;
  private timers: Array<{ at: number; invocation: Invocation; sleptMs: number }> = [];
  private readonly publisher: EventBridgePublisher;

  constructor(
    readonly clock: ManualClock,
    readonly aws: AwsModel,
    readonly store: DynamoDbTenantStore,
    private readonly deps: ReconcileDeps,
    private readonly stream: StreamReader,
  ) {
    this.publisher = new EventBridgePublisher({ client: aws.eventsClient, busName: 'dormouse' });
    aws.onTaskChange = (change) => this.taskEvents.push(change);
  }

  get idle(): boolean {
    return this.timers.length === 0;
  }

  /** Delivers everything that is due now, until nothing more happens at this instant. */
  async drain({ deliverBus = true } = {}): Promise<void> {
    for (;;) {
      let progressed = false;
      this.aws.settle();
      while (this.taskEvents.length > 0) {
        const change = this.taskEvents.shift()!;
        const task = toObservedTask(change.detail);
        this.tally.ecsEvents += 1;
        if (!task) continue;
        const started = performance.now();
        this.tally.invocations['task-events'] += 1;
        await handleTaskEvent({ store: this.store, clock: this.clock }, { task, version: change.detail.version });
        this.tally.bill('task-events', performance.now() - started);
        progressed = true;
      }
      const records = (await this.stream.read()).filter(isTenantRecord);
      for (let start = 0; start < records.length; start += PIPE_BATCH) {
        const batch = records.slice(start, start + PIPE_BATCH);
        const started = performance.now();
        this.tally.invocations['stream-publisher'] += 1;
        this.tally.pipeRequests += batch.length;
        // Only the events' number and kind enter the bench's figures, not the cost they carry.
        await publishChanges({ publisher: this.publisher, prices: costPrices('x86_64') }, tenantChanges(batch, this.clock));
        this.tally.bill('stream-publisher', performance.now() - started);
        for (; this.counted < this.aws.published.length; this.counted++) {
          const type = this.aws.published[this.counted]!.DetailType ?? '?';
          this.tally.events[type] = (this.tally.events[type] ?? 0) + 1;
        }
        progressed = true;
      }
      if (deliverBus) {
        while (this.delivered < this.aws.published.length) {
          const entry = this.aws.published[this.delivered++]!;
          if (entry.DetailType !== TENANT_CHANGED) continue;
          const { tenantId } = JSON.parse(entry.Detail ?? '{}') as { tenantId: string };
          this.tally.invocations.reconcile += 1;
          await this.runReconcile({
            tenantId,
            startedAt: this.clock.time,
            owner: `invocation-${this.tally.invocations.reconcile}-${this.clock.time}`,
          });
          progressed = true;
        }
      }
      const due = this.timers.filter((timer) => timer.at <= this.clock.time).sort((a, b) => a.at - b.at);
      this.timers = this.timers.filter((timer) => timer.at > this.clock.time);
      for (const { invocation, sleptMs } of due) {
        // Billed when it happens, so a wait that spans two steps counts in the later one.
        this.tally.bill('reconcile', sleptMs, { waiting: true });
        if (!invocation.owner && !(await this.sweepWouldLook(invocation.tenantId))) continue;
        await this.runReconcile(invocation);
        progressed = true;
      }
      if (!progressed) return;
    }
  }

  /**
   * Whether the sweep's run would reconcile the tenant (shared/app/sweep.ts): not while a
   * reconciler holds it, and only with a retry due or while it is not settled. Its periodic
   * resync of settled tenants is hours apart and belongs to no lifecycle step.
   */
  private async sweepWouldLook(tenantId: string): Promise<boolean> {
    const tenant = await this.store.get(tenantId);
    if (!tenant || isLeased(tenant, this.clock.time)) return false;
    if (tenant.status.retryAt) return Date.parse(tenant.status.retryAt) <= this.clock.time;
    return !isSettled(tenant);
  }

  /** One run of the use case inside an invocation, watching the tenant through short waits as the handler does. */
  private async runReconcile(invocation: Invocation): Promise<void> {
    const started = performance.now();
    const remaining = RECONCILE_TIMEOUT_MS - (this.clock.time - invocation.startedAt);
    const watch = invocation.owner ? invocationWatch(invocation.owner, remaining) : undefined;
    const result = await reconcile(this.deps, invocation.tenantId, watch);
    this.tally.reconcileRuns += 1;
    this.tally.bill('reconcile', performance.now() - started);
    const wait = result.requeueAfterMs;
    if (result.watching && wait !== undefined) {
      // The invocation sleeps: billed, though it does nothing.
      this.timers.push({ at: this.clock.time + wait, invocation, sleptMs: wait });
    } else if (wait !== undefined) {
      // The invocation ends; the sweep, run every minute, looks at the tenant at its first run
      // after the requeue time, once (it does not watch).
      this.tally.leftForSweep += 1;
      const at = Math.ceil((this.clock.time + wait) / SWEEP_INTERVAL_MS) * SWEEP_INTERVAL_MS;
      this.timers.push({ at, invocation: { tenantId: invocation.tenantId, startedAt: at }, sleptMs: 0 });
    }
  }

  /** Moves the clock to the next thing that happens; false when nothing ever will. */
  advance(): boolean {
    const next = Math.min(...this.timers.map((timer) => timer.at), this.aws.nextChange);
    if (!Number.isFinite(next)) return false;
    this.clock.time = Math.max(this.clock.time, next);
    return true;
  }
}

async function measure(tables: BenchTables, progress: (message: string) => void, data: DataSetting): Promise<StepCost[]> {
  const clock = new ManualClock();
  const aws = new AwsModel({ now: () => clock.time, timings: TIMINGS });
  const streams = new DynamoDBStreamsClient({ endpoint: await endpointOf(tables), region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const { Table } = await tables.client.send(new DescribeTableCommand({ TableName: tables.tenantTable }));
    const deps = reconcilerOver(aws, store, clock, data);
    const flow = new EventFlow(clock, aws, store, deps, new StreamReader(streams, Table!.LatestStreamArn!));
    const api: ApiCall = apiCaller({
      dynamoClient: tables.client,
      tenantTable: tables.tenantTable,
      idempotencyTable: tables.idempotencyTable,
      maxTenants: 1000,
      clock,
    });
    const tenant = async (): Promise<Tenant> => (await store.get(TENANT))!;
    const settled = (phase: string) => async () => {
      const current = await tenant();
      return current.status.phase === phase && current.status.observedGeneration === current.spec.generation && flow.idle;
    };
    let token = '';
    const steps: StepCost[] = [];

    async function step(
      name: string,
      action: () => Promise<void>,
      done: () => Promise<boolean>,
      options: { deliverBus?: boolean } = {},
    ): Promise<void> {
      aws.resetHistory();
      tables.meter.take();
      flow.tally = new Tally();
      const startedAt = clock.time;
      let servingAt: number | undefined;
      await action();
      for (;;) {
        await flow.drain(options);
        if (servingAt === undefined && (await tenant())?.status.phase === 'Running') servingAt = clock.time;
        if (await done()) break;
        if (clock.time - startedAt > STEP_LIMIT_MS || !flow.advance()) {
          throw new Error(`Lifecycle step "${name}" did not finish: tenant is ${(await tenant()).status.phase}`);
        }
      }
      const { tally } = flow;
      steps.push({
        step: name,
        calls: aws.callCounts(),
        capacity: tables.meter.take(),
        invocations: tally.invocations,
        reconcileRuns: tally.reconcileRuns,
        events: tally.events,
        ecsEvents: tally.ecsEvents,
        pipeRequests: tally.pipeRequests,
        gbSeconds: tally.gbSeconds,
        leftForSweep: tally.leftForSweep,
        simulatedMs: clock.time - startedAt,
        ...(servingAt !== undefined ? { servingAfterMs: servingAt - startedAt } : {}),
        handlerMs: tally.handlerMs,
      });
      progress(`lifecycle: ${name} done (${((clock.time - startedAt) / 1000).toFixed(0)} s simulated)`);
    }

    const command = (path: string) => async () => {
      flow.tally.invocations.api += 1;
      const started = performance.now();
      const answer = await api('POST', path, { token });
      flow.tally.bill('api', performance.now() - started);
      if (answer.status !== 202) throw new Error(`POST ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    };

    await step(
      'signup',
      async () => {
        flow.tally.invocations.api += 1;
        const started = performance.now();
        const answer = await api('POST', '/tenants', {
          body: { slug: TENANT, email: 'ann@acme.test' },
          idempotencyKey: 'signup-form-7f3c2a',
        });
        flow.tally.bill('api', performance.now() - started);
        if (answer.status !== 202) throw new Error(`Signup answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        token = String(answer.body.token);
      },
      async () => true,
      // Its events are on the bus; the reconciles they cause belong to the next step.
      { deliverBus: false },
    );
    await step(
      'provision',
      async () => {},
      async () => aws.tasksLaunched > 0,
    );
    await step('ready', async () => {}, settled('Running'));
    clock.time += IDLE_BEFORE_MS;
    await step('passivate', command(`/tenants/${TENANT}/passivate`), settled('Passivated'));
    await step('wake', command(`/tenants/${TENANT}/wake`), settled('Running'));
    clock.time += IDLE_BEFORE_MS;
    await step(
      'delete',
      async () => {
        flow.tally.invocations.api += 1;
        const started = performance.now();
        const answer = await api('DELETE', `/tenants/${TENANT}`, { token });
        flow.tally.bill('api', performance.now() - started);
        if (answer.status !== 202) throw new Error(`Delete answered ${answer.status}`);
      },
      settled('Deleted'),
    );
    const leftovers = {
      tasks: [...aws.liveTasks().values()].reduce((a, b) => a + b, 0),
      rules: aws.ruleCount,
      targetGroups: aws.targetGroupCount,
      accessPoints: aws.accessPointsOf(TENANT).length,
      taskDefinitions: aws.taskDefinitionsOf(TENANT).length,
    };
    if (Object.values(leftovers).some((count) => count > 0)) throw new Error(`Delete left ${JSON.stringify(leftovers)}`);
    if (data.persistentData && !aws.cleaned.includes(TENANT)) throw new Error("Delete did not run the data cleaner on the tenant's files");
    return steps;
  } finally {
    streams.destroy();
    aws.restore();
  }
}

async function endpointOf(tables: BenchTables): Promise<string> {
  const endpoint = await tables.client.config.endpoint?.();
  if (!endpoint) throw new Error('The DynamoDB client has no endpoint');
  return `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}`;
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function list(record: Record<string, number>): string {
  return Object.entries(record)
    .filter(([, count]) => count > 0)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
}

const fmt = (value: number, digits = 1) => value.toFixed(digits).replace(/\.0+$/, '');

/** AWS calls per lifecycle step before events drove the waits (bench of 2026-11-21; with data: 2026-12-06, same bench). */
const BEFORE = {
  'to Running': { plain: 57, data: 49 },
  wake: { plain: 59, data: 48 },
  passivate: { plain: 43, data: 37 },
  delete: { plain: 43, data: 43 },
} as const;
const TARGET_CALLS = { 'to Running': 15, wake: 15, passivate: 12, delete: 12 } as const;

function callsOf(steps: StepCost[], ...names: string[]): number {
  return steps.filter((step) => names.includes(step.step)).reduce((total, step) => total + sum(step.calls), 0);
}

function targetRows(plain: StepCost[], data: StepCost[]): Row[] {
  return (Object.keys(TARGET_CALLS) as Array<keyof typeof TARGET_CALLS>).map((name) => {
    const steps = name === 'to Running' ? ['provision', 'ready'] : [name];
    const without = callsOf(plain, ...steps);
    const withData = callsOf(data, ...steps);
    const before = BEFORE[name];
    return {
      section: 'Lifecycle cost',
      case: name,
      metric: 'AWS API calls vs target',
      value: `${without} without a data path (before ${before.plain}); ${withData} with one (before ${before.data})`,
      target: `≤ ${TARGET_CALLS[name]}`,
      pass: without <= TARGET_CALLS[name],
      data: { withoutData: without, withData, before },
    };
  });
}

function servingRows(steps: StepCost[]): Row[] {
  const first = steps.filter((step) => ['signup', 'provision', 'ready'].includes(step.step));
  const ready = first.find((step) => step.step === 'ready');
  const wake = steps.find((step) => step.step === 'wake');
  const cases: Array<[string, number | undefined, number]> = [
    [
      'first signup',
      ready?.servingAfterMs === undefined
        ? undefined
        : first.filter((step) => step !== ready).reduce((t, step) => t + step.simulatedMs, 0) + ready.servingAfterMs,
      first.reduce((total, step) => total + step.handlerMs, 0),
    ],
    ['wake', wake?.servingAfterMs, wake?.handlerMs ?? 0],
  ];
  return cases.map(([name, servingMs, handlerMs]) => {
    const waited = Math.max(0, (servingMs ?? Infinity) - AWS_SHARE_MS);
    const dormouseMs = waited + handlerMs;
    return {
      section: 'Lifecycle cost',
      case: name,
      metric: 'Request to serving',
      value:
        servingMs === undefined
          ? 'never served'
          : `${fmt((servingMs + handlerMs) / 1000, 2)} s: AWS ${fmt(AWS_SHARE_MS / 1000)} s (task start ${fmt((TIMINGS.provisioningMs + TIMINGS.pendingMs) / 1000)} s, health checks ${fmt(TIMINGS.healthyAfterMs / 1000)} s), ` +
            `Dormouse ${fmt(dormouseMs / 1000, 2)} s (${fmt(waited / 1000, 2)} s simulated waits beyond AWS's share, ${fmt(handlerMs)} ms handlers)`,
      target: `Dormouse ≤ ${DORMOUSE_SHARE_TARGET_MS / 1000} s`,
      pass: servingMs !== undefined && dormouseMs <= DORMOUSE_SHARE_TARGET_MS,
      data: { servingMs, awsShareMs: AWS_SHARE_MS, dormouseMs, waitedMs: waited, handlerMs },
    };
  });
}

function rowsFor(cost: StepCost): Row[] {
  const { capacity } = cost;
  const section = 'Lifecycle cost';
  const calls = sum(cost.calls);
  const events = sum(cost.events);
  const lambdas = sum(cost.invocations);
  return [
    {
      section,
      case: cost.step,
      metric: 'AWS API calls',
      value: calls === 0 ? '0' : `${calls}: ${list(cost.calls)}`,
      data: { calls: cost.calls },
    },
    {
      section,
      case: cost.step,
      metric: 'DynamoDB capacity',
      value: `${fmt(capacity.rcu)} RCU, ${fmt(capacity.wcu)} WCU (${fmt(capacity.transactionalWcu)} of it transactional)`,
      data: { ...capacity },
    },
    {
      section,
      case: cost.step,
      metric: 'Events, Lambda',
      value:
        `${events} bus events${events ? ` (${list(cost.events)})` : ''}, ${cost.ecsEvents} ECS events; ` +
        `${lambdas} invocations (${list(cost.invocations)}; ${cost.reconcileRuns} reconcile runs), ${fmt(cost.gbSeconds, 2)} GB-s; ` +
        `${fmt(cost.simulatedMs / 1000, 0)} s simulated`,
      data: {
        events: cost.events,
        ecsEvents: cost.ecsEvents,
        invocations: cost.invocations,
        reconcileRuns: cost.reconcileRuns,
        pipeRequests: cost.pipeRequests,
        gbSeconds: cost.gbSeconds,
        leftForSweep: cost.leftForSweep,
        simulatedMs: cost.simulatedMs,
      },
    },
  ];
}

/** A freshly started DynamoDB Local answers its first requests slowly (JIT); handler times would carry that. */
async function warmUp(endpoint: string): Promise<void> {
  const tables = await freshTables(endpoint, 'warmup');
  try {
    const api = apiCaller({
      dynamoClient: tables.client,
      tenantTable: tables.tenantTable,
      idempotencyTable: tables.idempotencyTable,
      maxTenants: 1000,
    });
    for (let index = 0; index < 30; index++) {
      const slug = `warm-up-${index}`;
      await api('POST', '/tenants', { body: { slug, email: `${slug}@example.test` }, idempotencyKey: `warm-up-signup-${index}` });
      await api('GET', `/tenants/${slug}`);
    }
  } finally {
    await tables.drop();
  }
}

const lifecycle: Section = {
  id: 'lifecycle',
  title: 'Cost per lifecycle step',
  async run(context): Promise<SectionResult> {
    const dynamo = await context.dynamo();
    await warmUp(dynamo.endpoint);
    const tables = await freshTables(dynamo.endpoint, 'lifecycle');
    try {
      const steps = await measure(tables, context.progress, WITH_DATA);
      const plainTables = await freshTables(dynamo.endpoint, 'lifecycle-plain');
      let plain: StepCost[];
      try {
        plain = await measure(plainTables, context.progress, WITHOUT_DATA);
      } finally {
        await plainTables.drop();
      }
      const leftForSweep = steps.reduce((total, step) => total + step.leftForSweep, 0);
      return {
        rows: [
          ...targetRows(plain, steps),
          ...servingRows(steps),
          ...steps.flatMap(rowsFor),
          {
            section: 'Lifecycle cost',
            case: 'delete',
            metric: 'Left behind',
            value: "0 tasks, 0 rules, 0 target groups, 0 access points, 0 task definitions; the tenant's files deleted",
            target: 'nothing orphaned',
            pass: true,
          },
        ],
        notes: [
          'Lifecycle: with a data path (EFS access point and task definition per tenant, stop-first handover), as the default cdk.json; ' +
            'the base task definition is read once per process (here: once in provision). ' +
            'One tenant alone on the load balancer (DescribeRules reads one page) and on the file system (DescribeAccessPoints reads one page); signup with an Idempotency-Key, ' +
            'as a signup form would send; passivate, wake and delete through the API commands (the wake function is measured once it lands).',
          'Lifecycle: AWS calls against their targets are counted without a data path (the control plane alone; the figures the targets were set on) and with one (EFS and task definition calls added); ' +
            '"to Running" is provision and ready together, from the signup recorded to the tenant serving. ' +
            `Before passivate and delete the tenant runs ${IDLE_BEFORE_MS / 60_000} minutes, so its last task event is older than the reconciler trusts and the first look asks ECS. ` +
            'The sweep (every minute) looks only at tenants it would reconcile: unsettled, or with a retry due.',
          'Lifecycle: request to serving is simulated time from the request (the wake command as the wake function sends it, or the signup) until the tenant is Running behind its rule. ' +
            `AWS's share is the task's start and the target's health checks under the simulated timings (${AWS_SHARE_MS / 1000} s); Dormouse's share is the rest of the simulated time ` +
            "plus every handler's run time on this machine (sequential here, so an upper bound of what lies on the visitor's path); EventBridge and Pipe delivery latency is not simulated.",
          `Lifecycle: simulated AWS timings: RunTask→PENDING ${TIMINGS.provisioningMs / 1000} s, →RUNNING +${TIMINGS.pendingMs / 1000} s, ` +
            `healthy ${TIMINGS.healthyAfterMs / 1000} s after registration, stop ${TIMINGS.stoppingMs / 1000} s; ` +
            'the reconciler uses its deployed settings: it waits on ECS task events (trusting the last one for 60 s), reads target health once 20 s after registering (2 checks 10 s apart), then every 5 s.',
          'Lifecycle: DynamoDB capacity is what DynamoDB Local reports with ReturnConsumedCapacity TOTAL (index writes included). ' +
            'AWS bills items written in TransactWriteItems at twice the standard rate; failed conditional writes are billed ' +
            `but report nothing (${steps.reduce((n, step) => n + sum(step.capacity.failures), 0)} failed data commands in this run).`,
          "Lifecycle: GB-s = measured handler time on this machine (against DynamoDB Local) plus the reconcile function's " +
            'inline waits (it sleeps through requeues ≤ 20 s), at the memory sizes the CDK app sets. Stream reads by the Pipe are not counted.' +
            (leftForSweep > 0 ? ` ${leftForSweep} requeue(s) were too long to wait inline and would be left to the sweep.` : ''),
        ],
        details: { steps, withoutData: plain },
      };
    } finally {
      await tables.drop();
    }
  },
};

export default lifecycle;
