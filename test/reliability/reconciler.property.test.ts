import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handleTaskEvent } from '../../shared/app/task-event.js';
import { reconcile, type ReconcileDeps } from '../../shared/app/reconcile.js';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import {
  isSettled,
  newTenant,
  withDesired,
  type Desired,
  type LaunchedAs,
  type Tenant,
  type TenantSpec,
} from '../../shared/domain/tenant.js';
import { environmentDigest } from '../../shared/domain/plans.js';
import type { RoutingSlots, TenantStore } from '../../shared/ports/tenant-store.js';
import { toObservedTask } from '../../shared/adapters/aws/ecs-compute.js';
import type { Compute, ObservedTask } from '../../shared/ports/compute.js';
import type { Routing } from '../../shared/ports/routing.js';
import type { Storage } from '../../shared/ports/storage.js';
import type { PlanSettings } from '../../shared/domain/plan.js';
import { awsAdaptersOver } from '../support/aws-adapters.js';
import { AwsModel } from '../support/aws-model.js';
import { createTestTables } from '../support/dynamodb.js';
import { FakeDns } from '../support/fake-dns.js';
import { CrashError, FakeCloud, type FaultKind } from '../support/fake-cloud.js';
import { ManualClock, testSettings } from '../support/reconciler-world.js';

/**
 * Invariants 1–4 (and 6, with persistent data) of the design under random interleavings: commands
 * (among them plan and environment changes, which replace the tenant's task), concurrent reconciles
 * (some watching through short waits, some of those abandoned while they hold the lease),
 * ECS events duplicated, reordered and dropped, Spot interruptions, throttling, and crashes
 * between any two steps (after an AWS call, or after a DynamoDB write).
 *
 * The same scenarios run twice: over the use-case tests' fake, and over the real EcsCompute and
 * ElbRouting (wired as the Lambda wires them) on the shared AWS model, where faults are injected
 * into the SDK clients. A third run, over the fake, gives tenants persistent data replaced
 * stop-first, with faults in the storage calls too.
 */

const SEED = Number(process.env.FC_SEED ?? 20261121);
const RUNS = Number(process.env.FC_RUNS ?? 25);
const TENANTS = ['alpha', 'bravo', 'charlie'];
const CLOUD_OPERATIONS = [
  'RunTask',
  'StopTask',
  'CreateTargetGroup',
  'RegisterTargets',
  'DeregisterTargets',
  'CreateRule',
  'DeleteRule',
  'DeleteTargetGroup',
  'DescribeTasks',
];
const STORAGE_OPERATIONS = ['EnsureStorage', 'RemoveStorage'];

type Action =
  | { kind: 'desire'; tenant: number; desired: Desired }
  /** A plan or environment change, as the admin API makes it. */
  | { kind: 'respec'; tenant: number; plan: string; dark: boolean }
  | { kind: 'reconcile'; tenant: number; concurrently: boolean; watch?: { owner: string; maxWaitMs: number } }
  | { kind: 'tick' }
  | { kind: 'deliver'; pick: number; duplicate: boolean; drop: boolean }
  | { kind: 'interrupt'; tenant: number }
  | { kind: 'fault'; fault: FaultKind; operation: string };

const tenantIndex = fc.nat({ max: TENANTS.length - 1 });
/** Commands, reconciles, the world moving and faults in any of `operations` (or a DynamoDB write). */
const actionsOver = (operations: string[]): fc.Arbitrary<Action> =>
  fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('desire' as const),
        tenant: tenantIndex,
        desired: fc.constantFrom<Desired>('running', 'passivated', 'deleted'),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('respec' as const),
        tenant: tenantIndex,
        plan: fc.constantFrom('trial', 'pro'),
        dark: fc.boolean(),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('reconcile' as const),
        tenant: tenantIndex,
        concurrently: fc.boolean(),
        // A reconcile function invocation watching through short waits (or out of time for them);
        // one that never looks again stands for an invocation that died while it held the lease.
        watch: fc.option(fc.record({ owner: fc.constantFrom('invocation-1', 'invocation-2'), maxWaitMs: fc.constantFrom(20_000, -1) }), {
          nil: undefined,
        }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean(), drop: fc.boolean() }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('interrupt' as const), tenant: tenantIndex }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('fault' as const),
        fault: fc.constantFrom<FaultKind>('throttle', 'crash'),
        operation: fc.constantFrom(...operations, 'SaveTenant'),
      }),
    },
  );

/** Crashes after a DynamoDB write has landed: the worst moment to die. */
function crashingStore(store: DynamoDbTenantStore, armed: Set<string>): TenantStore & Pick<RoutingSlots, 'routingSlotsByShard'> {
  return {
    routingSlotsByShard: (shards) => store.routingSlotsByShard(shards),
    get: (id) => store.get(id),
    list: (query) => store.list(query),
    create: (tenant, limits) => store.create(tenant, limits),
    save: async (tenant, options) => {
      const saved = await store.save(tenant, options);
      if (armed.delete('SaveTenant')) throw new CrashError('crashed after saving the tenant');
      return saved;
    },
  };
}

/**
 * The cloud a scenario runs in, as the invariants need to see it. Faults are injected per AWS
 * operation: throttling before the call, a crash right after it.
 */
interface CloudWorld {
  compute: Compute;
  routing: Routing;
  /** ECS task state changes, in the order they happened, as EventBridge would deliver them. */
  events: Array<{ task: ObservedTask; version: number }>;
  /** One step of the world's time (the clock moves 5 s with it). */
  tick(): void;
  /** Lets deregistered targets finish draining, as they do after the deregistration delay. */
  drain(): void;
  /** A Spot interruption of the tenant's running task, if it has one. */
  interrupt(tenantId: string): void;
  liveTasksOf(tenantId: string): Array<{ ip?: string; launchedAs?: LaunchedAs }>;
  /** The tenant's rules, each with the shard (load balancer) whose listener holds it. */
  rulesOf(tenantId: string): Array<{ shard: number }>;
  /** Each target as `<ip>:<health>`. */
  targetGroupsOf(tenantId: string): Array<{ targets: string[] }>;
  /** The tenants' persistent data, where the world keeps any. */
  storage?: {
    port: Storage;
    /** Tasks of the tenant that have its data mounted (started with it and not STOPPED). */
    mountedTasksOf(tenantId: string): unknown[];
    tenants: ReadonlySet<string>;
    removedWhileMounted: readonly string[];
  };
}

type Fault = (operation: string) => FaultKind | undefined;

/** The use-case tests' fake, listing tasks a little late as ECS can. */
function fakeCloudWorld(fault: Fault, clock: ManualClock, _shards = 1): CloudWorld {
  const cloud = new FakeCloud({ listingLagTicks: 2, fault });
  return {
    compute: cloud,
    routing: cloud,
    events: cloud.events,
    tick: () => {
      cloud.tick();
      clock.advance(5_000);
    },
    // Deregistering removes a target at once here.
    drain: () => {},
    interrupt: (tenantId) => {
      const task = cloud.liveTasksOf(tenantId).find((candidate) => candidate.lastStatus === 'RUNNING');
      if (task) cloud.interrupt(task);
    },
    liveTasksOf: (tenantId) => cloud.liveTasksOf(tenantId),
    rulesOf: (tenantId) => [...cloud.rules.values()].filter((rule) => rule.tenantId === tenantId),
    targetGroupsOf: (tenantId) =>
      [...cloud.targetGroups.values()]
        .filter((group) => group.tenantId === tenantId)
        .map((group) => ({ targets: [...group.targets.values()].map((target) => `${target.ip}:${target.health}`) })),
    storage: {
      port: cloud.storage,
      mountedTasksOf: (tenantId) => cloud.mountedTasksOf(tenantId),
      tenants: cloud.storage.tenants,
      removedWhileMounted: cloud.storage.removedWhileMounted,
    },
  };
}

/** The real EcsCompute and ElbRouting, wired as the Lambda wires them, over the shared AWS model. */
function awsModelWorld(fault: Fault, clock: ManualClock, shards = 1): CloudWorld {
  const model = new AwsModel({
    now: () => clock.now().getTime(),
    timings: { provisioningMs: 5_000, pendingMs: 5_000, healthyAfterMs: 5_000, stoppingMs: 10_000, drainingMs: 15_000 },
  });
  const events: CloudWorld['events'] = [];
  model.onTaskChange = ({ detail }) => {
    const task = toObservedTask(detail);
    if (task) events.push({ task, version: detail.version });
  };
  for (const client of [model.ecsClient, model.elbClient]) injectFaults(client, fault);
  const { compute, routing } = awsAdaptersOver(model, 'property', shards);
  return {
    compute,
    routing,
    events,
    tick: () => {
      clock.advance(5_000);
      model.settle();
    },
    drain: () => {
      clock.advance(15_000);
      model.settle();
    },
    interrupt: (tenantId) => {
      const task = model.liveTasksOf(tenantId).find((candidate) => candidate.lastStatus === 'RUNNING');
      // The notice as the fake gives it (six ticks), so both worlds see interruptions play out.
      if (task) model.interrupt(task.arn, 30_000);
    },
    liveTasksOf: (tenantId) => model.liveTasksOf(tenantId),
    rulesOf: (tenantId) => model.rulesOf(tenantId),
    targetGroupsOf: (tenantId) => model.targetGroupsOf(tenantId),
  };
}

/** Throttles a call before it reaches the model, or crashes the caller once the model has answered. */
function injectFaults(client: { send: (...args: any[]) => Promise<any> }, fault: Fault): void {
  const send = client.send.bind(client);
  client.send = async (...args: any[]) => {
    const operation = (args[0] as object).constructor.name.replace(/Command$/, '');
    const kind = fault(operation);
    if (kind === 'throttle') {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    }
    const result = await send(...args);
    if (kind === 'crash') throw new CrashError(`crashed after ${operation}`);
    return result;
  };
}

async function runScenario(
  actions: Action[],
  run: number,
  makeWorld: (fault: Fault, clock: ManualClock, shards: number) => CloudWorld,
  data: Pick<PlanSettings, 'persistentData' | 'handover'> = { persistentData: false, handover: 'stop-first' },
  sharding: { shards: number; maxActiveTenants: number } = { shards: 1, maxActiveTenants: testSettings.maxActiveTenants },
) {
  const tables = await createTestTables();
  const plainStore = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const armedCrashes = new Set<string>();
  const armedThrottles = new Set<string>();
  const clock = new ManualClock();
  const cloud = makeWorld(
    (operation) => (armedThrottles.delete(operation) ? 'throttle' : armedCrashes.delete(operation) ? 'crash' : undefined),
    clock,
    sharding.shards,
  );
  const dns = new FakeDns();
  const deps: ReconcileDeps = {
    store: crashingStore(plainStore, armedCrashes),
    compute: cloud.compute,
    routing: cloud.routing,
    ...(data.persistentData ? { storage: cloud.storage!.port } : {}),
    dns,
    clock,
    settings: { ...testSettings, leaseMs: 20_000, backoffMaxMs: 20_000, ...data, ...sharding },
  };
  const desired = new Map<string, Desired>();
  /** What each tenant's spec asks its task to be started as: plan and environment. */
  const specs = new Map<string, Pick<TenantSpec, 'plan' | 'environment'>>();
  for (const id of TENANTS) {
    const tenant = newTenant({
      slug: `${id}${run}`,
      email: `${id}${run}@example.test`,
      plan: 'trial',
      tokenHash: '0'.repeat(64),
      now: clock.now(),
      trialDays: 14,
    });
    await plainStore.create({ ...tenant, id }, { maxTenants: 100 });
    desired.set(id, 'running');
    specs.set(id, { plan: 'trial' });
  }

  let delivered = 0;
  const tolerate = async (work: Promise<unknown>) => {
    try {
      await work;
    } catch (error) {
      // A crash is the process dying; the next run starts from scratch, as a new invocation would.
      if (!(error instanceof CrashError)) throw error;
    }
  };
  const assertAtMostOneLiveTask = () => {
    for (const id of TENANTS) {
      const live = cloud.liveTasksOf(id);
      // A replacement runs the new task beside the one it replaces until the new one serves (no
      // gap): two at most, and only one ever started as what the tenant now asks for.
      expect(live.filter((task) => startedAsAsked(task, specs.get(id)!)).length, `current live tasks of ${id}`).toBeLessThanOrEqual(1);
      expect(live.length, `live tasks of ${id}`).toBeLessThanOrEqual(2);
    }
    if (!data.persistentData) return;
    // Invariant 6: one writer of a tenant's data, counting tasks still on their way out.
    for (const id of TENANTS)
      expect(cloud.storage!.mountedTasksOf(id).length, `tasks with the data of ${id} mounted`).toBeLessThanOrEqual(1);
    expect(cloud.storage!.removedWhileMounted, 'data removed while mounted').toEqual([]);
  };
  /** No shard holds more than its slots, in the count or on its load balancer; no tenant has rules on two shards. */
  const assertShardsWithinLimits = async () => {
    const counts = await plainStore.routingSlotsByShard(sharding.shards);
    for (const count of counts) expect(count, `slots taken per shard: ${counts.join(', ')}`).toBeLessThanOrEqual(sharding.maxActiveTenants);
    const rulesPerShard = new Array<number>(sharding.shards).fill(0);
    for (const id of TENANTS) {
      const shards = new Set(cloud.rulesOf(id).map((rule) => rule.shard));
      expect(shards.size, `shards with a rule of ${id}`).toBeLessThanOrEqual(1);
      for (const shard of shards) rulesPerShard[shard]! += 1;
    }
    for (const rules of rulesPerShard)
      expect(rules, `tenants with rules per shard: ${rulesPerShard.join(', ')}`).toBeLessThanOrEqual(sharding.maxActiveTenants);
  };

  for (const action of actions) {
    switch (action.kind) {
      case 'desire': {
        const id = TENANTS[action.tenant]!;
        // Mirrors the API: a deleted tenant stays deleted.
        if (desired.get(id) === 'deleted') break;
        await changeDesired(plainStore, id, action.desired);
        desired.set(id, action.desired);
        break;
      }
      case 'respec': {
        const id = TENANTS[action.tenant]!;
        if (desired.get(id) === 'deleted') break;
        const spec = { plan: action.plan, ...(action.dark ? { environment: { THEME: 'dark' } } : {}) };
        await changeSpec(plainStore, id, spec);
        specs.set(id, spec);
        break;
      }
      case 'reconcile': {
        const id = TENANTS[action.tenant]!;
        // Concurrent runs are other invocations, so never the same owner.
        const runs = action.concurrently ? [reconcile(deps, id, action.watch), reconcile(deps, id)] : [reconcile(deps, id, action.watch)];
        await Promise.all(runs.map(tolerate));
        break;
      }
      case 'tick':
        cloud.tick();
        break;
      case 'deliver': {
        const pending = cloud.events.slice(delivered);
        if (pending.length === 0) break;
        // Any pending event, not the oldest: events arrive out of order.
        const event = pending[action.pick % pending.length]!;
        if (!action.drop) {
          await handleTaskEvent({ store: plainStore }, event);
          if (action.duplicate) await handleTaskEvent({ store: plainStore }, event);
        }
        if (event === pending[0]) delivered += 1;
        break;
      }
      case 'interrupt':
        cloud.interrupt(TENANTS[action.tenant]!);
        break;
      case 'fault':
        (action.fault === 'throttle' ? armedThrottles : armedCrashes).add(action.operation);
        break;
    }
    assertAtMostOneLiveTask();
    await assertShardsWithinLimits();
  }

  // AWS stops failing; the periodic resync reconciles everyone until they settle.
  armedCrashes.clear();
  armedThrottles.clear();
  for (let round = 0; round < 80; round++) {
    const results = [];
    for (const id of TENANTS) results.push(await reconcile(deps, id));
    assertAtMostOneLiveTask();
    await assertShardsWithinLimits();
    const tenants = await Promise.all(TENANTS.map((id) => plainStore.get(id)));
    // Settled means the record says so and no reconcile asked to look again (a Spot handover
    // keeps a tenant Running while its replacement starts).
    const idle = results.every((result) => result.requeueAfterMs === undefined);
    if (idle && tenants.every((tenant) => tenant && converged(tenant))) break;
    cloud.tick();
  }

  cloud.drain();
  await assertConverged(plainStore, cloud, desired, sharding.shards);
  if (sharding.shards > 1) {
    // Each tenant's address leads to the shard that routes it; a deleted tenant has none.
    for (const id of TENANTS) {
      const tenant = (await plainStore.get(id))!;
      if (desired.get(id) === 'running') {
        expect(
          cloud.rulesOf(id).map((rule) => rule.shard),
          `shard of ${id}'s rule`,
        ).toEqual([tenant.status.shard]);
        expect(dns.shardOf(id), `DNS record of ${id}`).toBe(tenant.status.shard);
      }
      if (desired.get(id) === 'deleted') expect(dns.records.has(id), `DNS record of deleted ${id}`).toBe(false);
    }
  }
  // Eventually each running tenant's task runs the plan and environment it asks for.
  for (const id of TENANTS) {
    if (desired.get(id) !== 'running') continue;
    const [live] = cloud.liveTasksOf(id);
    expect(live?.launchedAs, `what ${id}'s task was started as`).toMatchObject({
      plan: specs.get(id)!.plan,
      environment: environmentDigest(specs.get(id)!.environment),
    });
  }
  if (data.persistentData) {
    // Deleted tenants leave no data; the others keep theirs (a running one has it mounted).
    for (const id of TENANTS) {
      if (desired.get(id) === 'deleted') expect(cloud.storage!.tenants.has(id), `data of deleted ${id}`).toBe(false);
      if (desired.get(id) === 'running') expect(cloud.storage!.tenants.has(id), `data of running ${id}`).toBe(true);
    }
  }
}

/** A task counts as started as asked when it says so, or says nothing (started before plans). */
function startedAsAsked(task: { launchedAs?: LaunchedAs }, spec: Pick<TenantSpec, 'plan' | 'environment'>): boolean {
  const launched = task.launchedAs;
  return !launched || (launched.plan === spec.plan && launched.environment === environmentDigest(spec.environment));
}

/** Mirrors the admin API: a new plan or environment is a new generation. */
async function changeSpec(store: TenantStore, id: string, change: Pick<TenantSpec, 'plan' | 'environment'>) {
  for (;;) {
    const tenant = (await store.get(id))!;
    try {
      const { environment: _previous, ...rest } = tenant.spec;
      const spec = { ...rest, ...change, generation: tenant.spec.generation + 1 };
      await store.save({ ...tenant, spec });
      return;
    } catch (error) {
      if ((error as Error).name !== 'VersionConflictError') throw error;
    }
  }
}

async function changeDesired(store: TenantStore, id: string, desired: Desired) {
  for (;;) {
    const tenant = (await store.get(id))!;
    try {
      const next = withDesired(tenant, desired);
      if (next !== tenant) await store.save(next, { releaseClaims: desired === 'deleted' });
      return;
    } catch (error) {
      if ((error as Error).name !== 'VersionConflictError') throw error;
    }
  }
}

/** Settled as the domain says, and in the phase asked for: no fault here is one that fails a tenant. */
function converged(tenant: Tenant): boolean {
  return isSettled(tenant) && tenant.status.phase !== 'Failed' && !tenant.lease;
}

async function assertConverged(store: DynamoDbTenantStore, cloud: CloudWorld, desired: Map<string, Desired>, shards: number) {
  let running = 0;
  for (const id of TENANTS) {
    const tenant = (await store.get(id))!;
    // Invariant 4: the last expected state anyone asked for is the one recorded.
    expect(tenant.spec.desired, `desired of ${id}`).toBe(desired.get(id));
    // Invariant 2: converged once AWS stopped failing.
    expect(converged(tenant), `${id} converged: ${JSON.stringify(tenant.status)}`).toBe(true);
    const live = cloud.liveTasksOf(id);
    const rules = cloud.rulesOf(id);
    const groups = cloud.targetGroupsOf(id);
    if (tenant.spec.desired === 'running') {
      running += 1;
      expect(live, `tasks of ${id}`).toHaveLength(1);
      expect(rules, `rules of ${id}`).toHaveLength(1);
      expect(groups, `target groups of ${id}`).toHaveLength(1);
      expect(groups[0]!.targets).toEqual([`${live[0]!.ip}:healthy`]);
    } else {
      // Invariant 3: nothing orphaned once a tenant is passivated or deleted.
      expect(live.length + rules.length + groups.length, `resources of ${id}`).toBe(0);
    }
  }
  const slots = await store.routingSlotsByShard(shards);
  expect(slots.reduce((total, count) => total + count, 0)).toBe(running);
}

describe.each([
  { world: 'the test fake', makeWorld: fakeCloudWorld },
  { world: 'the AWS adapters over the AWS model', makeWorld: awsModelWorld },
])('the reconciler under random faults (property-based), over $world', ({ makeWorld }) => {
  it('keeps at most one live task per tenant, converges, orphans nothing and loses no write', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(actionsOver(CLOUD_OPERATIONS), { minLength: 10, maxLength: 60 }), async (actions) => {
        run += 1;
        await runScenario(actions, run, makeWorld);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});

describe.each([
  { world: 'the test fake', makeWorld: fakeCloudWorld },
  { world: 'the AWS adapters over the AWS model', makeWorld: awsModelWorld },
])('the reconciler over several routing shards under random faults (property-based), over $world', ({ makeWorld }) => {
  it('never holds more slots or rules on a shard than it has, never routes a tenant on two shards, and converges', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionsOver(CLOUD_OPERATIONS), { minLength: 10, maxLength: 60 }),
        // As many slots as tenants in all, but few per shard: placement and moves decide who runs where.
        fc.constantFrom({ shards: 3, maxActiveTenants: 1 }, { shards: 2, maxActiveTenants: 2 }),
        async (actions, sharding) => {
          run += 1;
          await runScenario(actions, run, makeWorld, undefined, sharding);
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});

describe('the reconciler with persistent data, replaced stop-first, under random faults (property-based), over the test fake', () => {
  it('never has two tasks of a tenant with its data mounted, removes the data of deleted tenants only, and converges', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionsOver([...CLOUD_OPERATIONS, ...STORAGE_OPERATIONS]), { minLength: 10, maxLength: 60 }),
        async (actions) => {
          run += 1;
          await runScenario(actions, run, fakeCloudWorld, { persistentData: true, handover: 'stop-first' });
        },
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});
