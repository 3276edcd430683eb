import { beforeEach, describe, expect, it, vi } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { marshall } from '@aws-sdk/util-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBRecord } from 'aws-lambda';
import { DynamoDbTenantStore, emailHash } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { DynamoDbTimeline } from '../../shared/adapters/aws/dynamodb-timeline.js';
import { EventBridgePublisher, PublishError } from '../../shared/adapters/aws/eventbridge-publisher.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../shared/adapters/local/dynamodb-local.js';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';
import { ConfigError, loadStreamPublisherConfig } from '../../shared/config.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import { changeTenant } from '../../shared/app/change-tenant.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import { systemClock } from '../../shared/ports/clock.js';
import { costPrices } from '../../shared/domain/prices.js';
import { createStreamPublisherHandler, StreamRecordError } from '../../shared/events/stream-publisher.js';
import { createTestTables } from '../support/dynamodb.js';
import { streamAsPipeBatch } from '../support/table-stream.js';

const busName = 'dormouse';
const tableArn = 'arn:aws:dynamodb:eu-west-1:123456789012:table/dormouse-tenants';
/** A fresh context per invocation, as Lambda gives each its own deadline. */
const context = () => localLambdaContext('dormouse-stream-publisher', 'req-1', 30_000);

const tokenHash = 'ab'.repeat(32);
const acme: Tenant = {
  ...newTenant({
    slug: 'acme',
    email: 'ann@acme.test',
    plan: 'trial',
    tokenHash,
    now: new Date('2026-11-21T10:00:00.000Z'),
    trialDays: 14,
  }),
  version: 1,
};
const acmeRunning: Tenant = {
  ...acme,
  status: {
    ...acme.status,
    phase: 'Running',
    observedGeneration: 1,
    task: {
      arn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/0f1e2d',
      ip: '10.0.3.17',
      capacityProvider: 'FARGATE_SPOT',
      lastStatus: 'RUNNING',
      eventVersion: 4,
    },
    transitionAt: '2026-11-21T10:01:30.000Z',
  },
  version: 2,
};
const globexTombstone: Tenant = {
  ...newTenant({
    slug: 'globex',
    email: 'hank@globex.test',
    plan: 'trial',
    tokenHash,
    now: new Date('2026-11-01T08:00:00.000Z'),
    trialDays: 14,
  }),
  spec: { desired: 'deleted', generation: 2, plan: 'trial' },
  status: { phase: 'Deleted', observedGeneration: 2, attempts: 0, transitionAt: '2026-11-19T10:00:00.000Z' },
  expiresAt: 1_795_255_200,
  version: 7,
};

/** The tenant as the store lays it out in the table (see DynamoDbTenantStore's toItem). */
function storedItem(tenant: Tenant) {
  return {
    ...tenant,
    pk: `tenant#${tenant.id}`,
    kind: 'tenant',
    phase: tenant.status.phase,
    ...(['Passivated', 'Deleted'].includes(tenant.status.phase) ? {} : { activeKey: 'active' }),
    emailHash: emailHash(tenant.email),
  };
}
const image = (tenant: Tenant) => marshall(storedItem(tenant), { removeUndefinedValues: true });

function record(
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  sequence: number,
  seconds: number,
  images: { Keys: Record<string, unknown>; NewImage?: Record<string, unknown>; OldImage?: Record<string, unknown> },
): DynamoDBRecord {
  return {
    eventID: `c81e728d9d4c2f636f067f89cc14862${sequence}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    dynamodb: {
      ApproximateCreationDateTime: seconds,
      ...(images as DynamoDBRecord['dynamodb']),
      SequenceNumber: `4000000000000000000${sequence}`,
      SizeBytes: 512,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
    eventSourceARN: `${tableArn}/stream/2026-11-01T00:00:00.000`,
  };
}

const inserted = '2026-11-21T10:00:01.000Z';
const ready = '2026-11-21T10:01:30.000Z';

/** What a Pipe hands the function for one batch: the records of one create, a launch, and a TTL delete. */
const pipeBatch: DynamoDBRecord[] = [
  // The tenant as the signup's transaction wrote it, exactly as the stream carries it.
  record('INSERT', 1, 1_795_255_201, {
    Keys: { pk: { S: 'tenant#acme' } },
    NewImage: {
      pk: { S: 'tenant#acme' },
      kind: { S: 'tenant' },
      id: { S: 'acme' },
      email: { S: 'ann@acme.test' },
      tokenHash: { S: tokenHash },
      spec: { M: { desired: { S: 'running' }, generation: { N: '1' }, plan: { S: 'trial' } } },
      status: {
        M: {
          phase: { S: 'Pending' },
          observedGeneration: { N: '0' },
          attempts: { N: '0' },
          transitionAt: { S: '2026-11-21T10:00:00.000Z' },
        },
      },
      createdAt: { S: '2026-11-21T10:00:00.000Z' },
      lastActiveAt: { S: '2026-11-21T10:00:00.000Z' },
      trialEndsAt: { S: '2026-12-05T10:00:00.000Z' },
      version: { N: '1' },
      phase: { S: 'Pending' },
      activeKey: { S: 'active' },
      emailHash: { S: emailHash('ann@acme.test') },
    },
  }),
  // The same transaction's email claim and counter: not tenants, so no events.
  record('INSERT', 2, 1_795_255_201, {
    Keys: { pk: { S: `email#${emailHash('ann@acme.test')}` } },
    NewImage: { pk: { S: `email#${emailHash('ann@acme.test')}` }, kind: { S: 'emailClaim' }, tenantId: { S: 'acme' } },
  }),
  record('MODIFY', 3, 1_795_255_201, {
    Keys: { pk: { S: 'counter#tenants' } },
    OldImage: { pk: { S: 'counter#tenants' }, liveCount: { N: '41' } },
    NewImage: { pk: { S: 'counter#tenants' }, liveCount: { N: '42' } },
  }),
  record('MODIFY', 4, 1_795_255_290, { Keys: { pk: { S: 'tenant#acme' } }, OldImage: image(acme), NewImage: image(acmeRunning) }),
  // TTL removing a tombstone: Tenant Deleted went out when it became one.
  record('REMOVE', 5, 1_795_255_300, { Keys: { pk: { S: 'tenant#globex' } }, OldImage: image(globexTombstone) }),
];

// Written out in full: the key order of Detail is part of the exact request.
const pending = {
  tenantId: 'acme',
  phase: 'Pending',
  desired: 'running',
  generation: 1,
  observedGeneration: 0,
  trialEndsAt: '2026-12-05T10:00:00.000Z',
};
const running = {
  tenantId: 'acme',
  phase: 'Running',
  desired: 'running',
  generation: 1,
  observedGeneration: 1,
  trialEndsAt: '2026-12-05T10:00:00.000Z',
  capacityProvider: 'FARGATE_SPOT',
};
const expectedEntries = [
  { DetailType: 'Tenant Requested', Detail: { ...pending, email: 'ann@acme.test' }, Time: inserted },
  { DetailType: 'Tenant Changed', Detail: pending, Time: inserted },
  { DetailType: 'Tenant Ready', Detail: running, Time: ready },
  // The write carries a task event (eventVersion 4): news for the reconciler too.
  { DetailType: 'Tenant Changed', Detail: running, Time: ready },
].map(({ DetailType, Detail, Time }) => ({
  EventBusName: busName,
  Source: 'dormouse',
  DetailType,
  Detail: JSON.stringify(Detail),
  Time: new Date(Time),
  Resources: [],
}));

const client = new EventBridgeClient({ region: 'eu-west-1' });
const eventBridge = mockClient(client);
const requests = () => eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input);

/** Timelines go to a table of their own per test, in DynamoDB Local. */
let timeline: DynamoDbTimeline;

function build() {
  const logger = new Logger({ serviceName: 'dormouse-stream-publisher', logLevel: 'SILENT' });
  const info = vi.spyOn(logger, 'info');
  const error = vi.spyOn(logger, 'error');
  const publisher = new EventBridgePublisher({ client, busName, maxAttempts: 2, baseDelayMs: 0 });
  return { handler: createStreamPublisherHandler({ publisher, timeline, prices: costPrices('x86_64'), logger }), info, error };
}

beforeEach(async () => {
  const tables = await createTestTables();
  timeline = new DynamoDbTimeline({ tableName: tables.tenantTable, client: tables.documentClient });
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => ({
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map((_, index) => ({ EventId: `event-${index}` })),
  }));
});

describe('the stream publisher handler', () => {
  it('publishes the domain events of a Pipe batch, in record order, in one request', async () => {
    const { handler, info } = build();

    await handler(pipeBatch, context());

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
    expect(requests()).toEqual([{ Entries: expectedEntries }]);
    expect(info).toHaveBeenCalledWith('Published tenant events', { records: 5, tenantChanges: 3, events: 4, timelineEntries: 2 });
  });

  it('reads an event source mapping’s { Records } the same way', async () => {
    const { handler } = build();

    await handler({ Records: pipeBatch }, context());

    expect(requests()).toEqual([{ Entries: expectedEntries }]);
  });

  it('never puts the token hash on the bus', async () => {
    const { handler } = build();

    await handler(pipeBatch, context());

    expect(JSON.stringify(requests())).not.toContain(tokenHash);
  });

  it('sends nothing for a batch without tenant changes', async () => {
    const { handler, info } = build();

    await handler([pipeBatch[1]!, pipeBatch[2]!, pipeBatch[4]!], context());

    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
    expect(info).toHaveBeenCalledWith('Published tenant events', { records: 3, tenantChanges: 1, events: 0, timelineEntries: 0 });
  });

  it('publishes the events when the timeline cannot be written, and logs what it could not keep', async () => {
    // A timeline store that fails every write (as a table that keeps throttling would).
    timeline = Object.assign(Object.create(timeline) as DynamoDbTimeline, {
      append: async () => {
        throw new Error('ProvisionedThroughputExceededException');
      },
    });
    const { handler, info, error } = build();

    await handler(pipeBatch, context());

    expect(requests()).toEqual([{ Entries: expectedEntries }]);
    expect(error).toHaveBeenCalledWith('Could not record a transition in the tenant timeline', {
      tenantId: expect.any(String),
      error: expect.any(Error),
    });
    expect(info).toHaveBeenCalledWith('Published tenant events', { records: 5, tenantChanges: 3, events: 4, timelineEntries: 0 });
  });

  it('throws when EventBridge keeps refusing entries, so the Pipe retries the batch', async () => {
    eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => ({
      FailedEntryCount: input.Entries?.length ?? 0,
      Entries: (input.Entries ?? []).map(() => ({ ErrorCode: 'InternalFailure', ErrorMessage: 'Internal error' })),
    }));
    const { handler, error } = build();

    await expect(handler(pipeBatch, context())).rejects.toThrow(PublishError);
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 2);
    expect(error).toHaveBeenCalledWith('Publishing tenant events failed', { error: expect.any(PublishError) });
  });

  it('throws when the PutEvents call itself fails', async () => {
    eventBridge.on(PutEventsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const { handler } = build();

    await expect(handler(pipeBatch, context())).rejects.toThrow('Rate exceeded');
  });

  it('fails loudly on a stream without old images rather than mistaking a change for a signup', async () => {
    const { handler } = build();
    const { OldImage: _dropped, ...newImageOnly } = pipeBatch[3]!.dynamodb!;

    await expect(handler([{ ...pipeBatch[3]!, dynamodb: { ...newImageOnly, StreamViewType: 'NEW_IMAGE' } }], context())).rejects.toThrow(
      StreamRecordError,
    );
    expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 0);
  });

  it('refuses a payload that is not stream records', async () => {
    const { handler } = build();

    await expect(handler({ detail: {} } as never, context())).rejects.toThrow(StreamRecordError);
  });
});

describe('the stream publisher on the real table stream (DynamoDB Local)', () => {
  it('turns what the store writes into the domain events, skipping claims, counters and activity updates', async () => {
    const tables = await createTestTables();
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const created = await store.create(
      newTenant({ slug: 'initech', email: 'peter@initech.test', plan: 'trial', tokenHash, now: new Date(), trialDays: 14 }),
      { maxTenants: 10 },
    );
    const started = await store.save({
      ...created,
      status: {
        ...created.status,
        phase: 'Running',
        observedGeneration: 1,
        task: { arn: 'arn:aws:ecs:task/1', capacityProvider: 'FARGATE' },
      },
    });
    const active = await store.save({ ...started, lastActiveAt: new Date(Date.now() + 60_000).toISOString() });
    await store.save(withDesired(active, 'passivated'));
    const batch = await streamAsPipeBatch(tables);
    const { handler, info } = build();

    await handler(batch, context());

    const sent = requests().flatMap((input) => input.Entries ?? []);
    expect(sent.map((entry) => [entry.DetailType, JSON.parse(entry.Detail ?? '{}').phase])).toEqual([
      ['Tenant Requested', 'Pending'],
      ['Tenant Changed', 'Pending'],
      ['Tenant Ready', 'Running'],
      ['Tenant Changed', 'Running'],
    ]);
    expect(JSON.parse(sent[3]?.Detail ?? '{}')).toMatchObject({ desired: 'passivated', generation: 2 });
    expect(JSON.parse(sent[2]?.Detail ?? '{}')).toMatchObject({ tenantId: 'initech', capacityProvider: 'FARGATE' });
    expect(JSON.stringify(sent)).not.toContain(tokenHash);
    // The first create on a table froze the counter of before the split; then it wrote the
    // tenant, its email claim and its counter item; then three saves.
    expect(info).toHaveBeenCalledWith('Published tenant events', {
      records: 7,
      tenantChanges: 4,
      events: 4,
      timelineEntries: expect.any(Number),
    });
  });
});

describe('Tenant Plan Changed on the real table stream (DynamoDB Local)', () => {
  it("is derived from an operator's plan change as stored: the old and new plan, and a conversion", async () => {
    const tables = await createTestTables();
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    await store.create(
      newTenant({ slug: 'umbrella', email: 'alice@umbrella.test', plan: 'trial', tokenHash, now: new Date(), trialDays: 14 }),
      {
        maxTenants: 10,
      },
    );
    const plans = builtInPlans({ cpu: 256, memory: 512, idleMs: 900_000, trialDays: 14 });
    await changeTenant({ store, clock: systemClock, plans }, 'umbrella', { plan: 'pro' });
    const batch = await streamAsPipeBatch(tables);
    const { handler } = build();

    await handler(batch, context());

    const sent = requests().flatMap((input) => input.Entries ?? []);
    expect(sent.map((entry) => entry.DetailType)).toEqual(['Tenant Requested', 'Tenant Changed', 'Tenant Plan Changed', 'Tenant Changed']);
    const planChanged = JSON.parse(sent[2]?.Detail ?? '{}');
    expect(planChanged).toMatchObject({ tenantId: 'umbrella', previousPlan: 'trial', plan: 'pro', converted: true, generation: 2 });
    expect(planChanged).not.toHaveProperty('trialEndsAt');
  });
});

describe('the stream publisher configuration', () => {
  it('reads the bus name, and the tasks’ architecture (x86_64 unless set)', () => {
    expect(loadStreamPublisherConfig({ DORMOUSE_EVENT_BUS_NAME: 'dormouse', DORMOUSE_TABLE_NAME: 'tenants' })).toEqual({
      busName: 'dormouse',
      tenantTable: 'tenants',
      taskArchitecture: 'x86_64',
    });
    expect(
      loadStreamPublisherConfig({
        DORMOUSE_EVENT_BUS_NAME: 'dormouse',
        DORMOUSE_TABLE_NAME: 'tenants',
        DORMOUSE_TASK_ARCHITECTURE: 'arm64',
      }).taskArchitecture,
    ).toBe('arm64');
  });

  it('names the missing variable', () => {
    expect(() => loadStreamPublisherConfig({})).toThrow(ConfigError);
    expect(() => loadStreamPublisherConfig({})).toThrow(/DORMOUSE_EVENT_BUS_NAME/);
  });
});
