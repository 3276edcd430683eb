import { expect } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { reconcile, type ReconcileDeps, type ReconcileSettings } from '../../shared/app/reconcile.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import { isSettled, newTenant, withDesired, type Desired, type Tenant } from '../../shared/domain/tenant.js';
import type { Clock } from '../../shared/ports/clock.js';
import { createTestTables } from './dynamodb.js';
import { FakeCloud, type FakeCloudOptions } from './fake-cloud.js';

export class ManualClock implements Clock {
  constructor(private time = Date.parse('2026-11-21T10:00:00.000Z')) {}
  now(): Date {
    return new Date(this.time);
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export const testSettings: ReconcileSettings = {
  hostFor: (id) => `${id}.trials.example.com`,
  maxActiveTenants: 90,
  queueRetryMs: 30_000,
  leaseMs: 60_000,
  tombstoneSeconds: 7 * 86_400,
  maxSteps: 20,
  spotAttemptsBeforeFallback: 2,
  fallbackToOnDemand: true,
  maxRestarts: 3,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  pollMs: 5_000,
  unhealthyTimeoutMs: 120_000,
  listingLagMs: 15_000,
  persistentData: false,
  handover: 'stop-first',
  plans: builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 }),
};

/** The reconciler against DynamoDB Local and a fake cloud, with a clock the test moves. */
export async function createWorld(options: { settings?: Partial<ReconcileSettings>; cloud?: FakeCloudOptions } = {}) {
  const tables = await createTestTables();
  const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const clock = new ManualClock();
  const cloud = new FakeCloud({ now: () => clock.now(), ...options.cloud });
  // Nothing here hands the cloud's task events to the record unless a test does: by default the
  // record's word on a task is never taken for ECS's, and every look asks the cloud.
  const settings = { ...testSettings, eventTrustMs: 0, ...options.settings };
  const deps: ReconcileDeps = { store, compute: cloud, routing: cloud, storage: cloud.storage, clock, settings, random: () => 0.5 };

  async function signUp(id: string): Promise<Tenant> {
    const tenant = newTenant({
      slug: id,
      email: `${id}@example.test`,
      plan: 'trial',
      tokenHash: '0'.repeat(64),
      now: clock.now(),
      trialDays: 14,
    });
    return store.create(tenant, { maxTenants: 1000 });
  }

  async function setDesired(id: string, desired: Desired): Promise<Tenant> {
    const tenant = (await store.get(id))!;
    return store.save(withDesired(tenant, desired), { releaseClaims: desired === 'deleted' });
  }

  /**
   * Reconcile, let the world move, advance time, for `rounds` rounds or until every tenant
   * settles. Resolves whether they settled.
   */
  async function runRounds(ids: string[], rounds: number, onRound?: () => Promise<void> | void): Promise<boolean> {
    for (let round = 0; round < rounds; round++) {
      for (const id of ids) await reconcile(deps, id);
      await onRound?.();
      const tenants = await Promise.all(ids.map((id) => store.get(id)));
      if (tenants.every((tenant) => tenant && isSettled(tenant))) return true;
      cloud.tick();
      clock.advance(5_000);
    }
    return false;
  }

  /** Runs rounds until every tenant settles; throws when the rounds run out first. */
  async function converge(ids: string[], rounds = 40, onRound?: () => Promise<void> | void): Promise<void> {
    if (await runRounds(ids, rounds, onRound)) return;
    const phases = (await Promise.all(ids.map((id) => store.get(id)))).map(
      (tenant, index) => `${ids[index]}: ${tenant?.status.phase ?? 'missing'}`,
    );
    throw new Error(`Not settled after ${rounds} rounds (${phases.join(', ')})`);
  }

  /** Runs exactly this many rounds for a tenant that is not expected to settle (yet). */
  async function rounds(ids: string[], count: number): Promise<void> {
    await runRounds(ids, count);
  }

  /** Reconciles round after round; at every moment the host has a rule and a healthy target (no gap in service). */
  async function roundsWithoutGap(id: string, count: number): Promise<void> {
    for (let round = 0; round < count; round++) {
      await reconcile(deps, id);
      const rule = [...cloud.rules.values()][0];
      expect(rule).toBeDefined();
      const targets = [...cloud.targetGroups.get(rule!.targetGroupArn)!.targets.values()];
      expect(targets.some((target) => target.health === 'healthy')).toBe(true);
      cloud.tick();
      clock.advance(5_000);
    }
  }

  return {
    tables,
    store,
    cloud,
    clock,
    settings,
    deps,
    signUp,
    setDesired,
    converge,
    rounds,
    roundsWithoutGap,
    reconcile: (id: string) => reconcile(deps, id),
  };
}
