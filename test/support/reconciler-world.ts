import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { reconcile, type ReconcileDeps, type ReconcileSettings } from '../../shared/app/reconcile.js';
import { newTenant, withDesired, type Desired, type Tenant } from '../../shared/domain/tenant.js';
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
};

/** The reconciler against DynamoDB Local and a fake cloud, with a clock the test moves. */
export async function createWorld(options: { settings?: Partial<ReconcileSettings>; cloud?: FakeCloudOptions } = {}) {
  const tables = await createTestTables();
  const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const clock = new ManualClock();
  const cloud = new FakeCloud({ now: () => clock.now(), ...options.cloud });
  const settings = { ...testSettings, ...options.settings };
  const deps: ReconcileDeps = { store, compute: cloud, routing: cloud, clock, settings, random: () => 0.5 };

  async function signUp(id: string): Promise<Tenant> {
    const tenant = newTenant({ slug: id, email: `${id}@example.test`, plan: 'trial', tokenHash: '0'.repeat(64), now: clock.now(), trialDays: 14 });
    return store.create(tenant, { maxTenants: 1000 });
  }

  async function setDesired(id: string, desired: Desired): Promise<Tenant> {
    const tenant = (await store.get(id))!;
    return store.save(withDesired(tenant, desired), { releaseClaims: desired === 'deleted' });
  }

  /** Reconcile, let the world move, advance time; until every tenant settles or rounds run out. */
  async function converge(ids: string[], rounds = 40, onRound?: () => Promise<void> | void): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      for (const id of ids) await reconcile(deps, id);
      await onRound?.();
      const tenants = await Promise.all(ids.map((id) => store.get(id)));
      if (tenants.every((tenant) => tenant && isSettled(tenant))) return;
      cloud.tick();
      clock.advance(5_000);
    }
  }

  return { tables, store, cloud, clock, settings, deps, signUp, setDesired, converge, reconcile: (id: string) => reconcile(deps, id) };
}

export function isSettled(tenant: Tenant): boolean {
  const { phase } = tenant.status;
  const target = { running: 'Running', passivated: 'Passivated', deleted: 'Deleted' }[tenant.spec.desired];
  return phase === 'Failed' || (phase === target && tenant.status.observedGeneration === tenant.spec.generation);
}
