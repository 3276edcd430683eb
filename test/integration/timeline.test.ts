import { beforeEach, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { DynamoDbTimeline } from '../../shared/adapters/aws/dynamodb-timeline.js';
import { tenantChanges } from '../../shared/adapters/aws/dynamodb-stream-records.js';
import { recordTimeline } from '../../shared/app/record-timeline.js';
import type { TenantChange } from '../../shared/domain/domain-events.js';
import { newTenant, withDesired, type Phase, type Tenant } from '../../shared/domain/tenant.js';
import { TIMELINE_LENGTH, timelineView } from '../../shared/domain/timeline.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { streamAsPipeBatch } from '../support/table-stream.js';

const tokenHash = 'cd'.repeat(32);
const created = new Date('2026-12-01T09:00:00.000Z');
const acme: Tenant = {
  ...newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash, now: created, trialDays: 14 }),
  version: 1,
};

/** The tenant at record version `version`, in `phase`. */
function at(version: number, phase: Phase, base: Tenant = acme): Tenant {
  return { ...base, status: { ...base.status, phase }, version };
}

/** The change from one version to the next, `seconds` after creation. */
function change(before: Tenant | undefined, after: Tenant | undefined, seconds: number): TenantChange {
  return {
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
    at: new Date(created.getTime() + seconds * 1000).toISOString(),
  };
}

/** A tenant passivated and woken again and again: each version another phase. */
function cycles(count: number): TenantChange[] {
  const phases: Phase[] = ['Waking', 'Running', 'Passivating', 'Passivated'];
  const changes: TenantChange[] = [change(undefined, at(1, 'Pending'), 0)];
  for (let version = 2; version < count + 2; version++) {
    changes.push(change(at(version - 1, phases[(version - 3 + 4) % 4]!), at(version, phases[(version - 2) % 4]!), version));
  }
  return changes;
}

let tables: TestTables;
let timeline: DynamoDbTimeline;

beforeEach(async () => {
  tables = await createTestTables();
  timeline = new DynamoDbTimeline({ tableName: tables.tenantTable, client: tables.documentClient });
});

async function timelineItems(): Promise<string[]> {
  const { Items = [] } = await tables.documentClient.send(new ScanCommand({ TableName: tables.tenantTable }));
  return Items.map((item) => String(item.pk)).filter((pk) => pk.startsWith('timeline#'));
}

describe('the tenant timeline (DynamoDB Local)', () => {
  it('records each transition of the real table stream, oldest first, and no activity updates', async () => {
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const signedUp = await store.create(
      newTenant({ slug: 'initech', email: 'peter@initech.test', plan: 'trial', tokenHash, now: new Date(), trialDays: 14 }),
      { maxTenants: 10 },
    );
    const running = await store.save({
      ...signedUp,
      status: {
        ...signedUp.status,
        phase: 'Running',
        observedGeneration: 1,
        shard: 1,
        task: { arn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/0f1e2d3c', capacityProvider: 'FARGATE_SPOT' },
      },
    });
    const active = await store.save({ ...running, lastActiveAt: new Date(Date.now() + 60_000).toISOString() });
    await store.save(withDesired(active, 'passivated'));

    const { entries } = await recordTimeline({ timeline }, tenantChanges(await streamAsPipeBatch(tables)));

    expect(entries).toBe(3);
    const recorded = await timeline.read('initech');
    expect(recorded.map((entry) => timelineView(entry, 'admin'))).toEqual([
      { at: expect.any(String), phase: 'Pending', desired: 'running', plan: 'trial' },
      { at: expect.any(String), phase: 'Running', desired: 'running', plan: 'trial', capacity: 'spot', shard: 1 },
      { at: expect.any(String), phase: 'Running', desired: 'passivated', plan: 'trial', capacity: 'spot', shard: 1 },
    ]);
    // Kept for finding the task's logs, never shown.
    expect(recorded[1]?.task).toBe('0f1e2d3c');
    expect(JSON.stringify(recorded)).not.toContain(tokenHash);
  });

  it(`keeps the newest ${TIMELINE_LENGTH} transitions, in order, in as many items`, async () => {
    await recordTimeline({ timeline }, cycles(TIMELINE_LENGTH + 12));

    const recorded = await timeline.read('acme');

    expect(recorded).toHaveLength(TIMELINE_LENGTH);
    expect(recorded.map((entry) => entry.version)).toEqual(Array.from({ length: TIMELINE_LENGTH }, (_, i) => i + 14));
    expect(await timelineItems()).toHaveLength(TIMELINE_LENGTH + 1);
  });

  it('adds a redelivered batch once, and leaves out a change that arrives after a newer one', async () => {
    const changes = cycles(6);
    await recordTimeline({ timeline }, changes);

    const again = await recordTimeline({ timeline }, changes);
    const late = await recordTimeline({ timeline }, [changes[2]!, changes[1]!]);

    expect(again.entries).toBe(0);
    expect(late.entries).toBe(0);
    expect((await timeline.read('acme')).map((entry) => [entry.version, entry.phase])).toEqual([
      [1, 'Pending'],
      [2, 'Waking'],
      [3, 'Running'],
      [4, 'Passivating'],
      [5, 'Passivated'],
      [6, 'Waking'],
      [7, 'Running'],
    ]);
  });

  it('is removed when the tenant is deleted, and a new tenant of the same slug starts its own', async () => {
    await recordTimeline({ timeline }, cycles(4));
    const deleting = at(6, 'Deleting');
    await recordTimeline({ timeline }, [change(at(5, 'Passivated'), deleting, 6), change(deleting, at(7, 'Deleted'), 7)]);

    expect(await timeline.read('acme')).toEqual([]);
    expect(await timelineItems()).toEqual([]);

    const again = { ...acme, createdAt: '2026-12-09T09:00:00.000Z' };
    await recordTimeline({ timeline }, [change(undefined, at(1, 'Pending', again), 700_000)]);
    expect((await timeline.read('acme')).map((entry) => [entry.createdAt, entry.phase])).toEqual([[again.createdAt, 'Pending']]);
  });

  it('shows only the newest tenant of a reused slug, whose record versions start again', async () => {
    await recordTimeline({ timeline }, cycles(8));
    const again = { ...acme, createdAt: '2026-12-09T09:00:00.000Z' };

    await recordTimeline({ timeline }, [change(undefined, at(1, 'Pending', again), 700_000)]);

    expect((await timeline.read('acme')).map((entry) => [entry.version, entry.createdAt])).toEqual([[1, again.createdAt]]);
  });

  it('leaves out unconfirmed signups', async () => {
    const pending = at(1, 'PendingVerification');

    await recordTimeline({ timeline }, [change(undefined, pending, 0)]);

    expect(await timeline.read('acme')).toEqual([]);
  });

  it('shows the token holder the reason without AWS identifiers', async () => {
    const failed: Tenant = {
      ...at(2, 'Failed'),
      status: { ...acme.status, phase: 'Failed', lastError: 'RunTask failed for arn:aws:ecs:eu-west-1:123456789012:task/dormouse/0f1e2d' },
    };
    await recordTimeline({ timeline }, [change(at(1, 'Pending'), failed, 1)]);

    const [entry] = await timeline.read('acme');

    expect(timelineView(entry!, 'owner').reason).not.toContain('123456789012');
    expect(timelineView(entry!, 'admin')).not.toHaveProperty('task');
  });
});
