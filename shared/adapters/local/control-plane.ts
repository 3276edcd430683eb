import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { reconcile, type ReconcileDeps } from '../../app/reconcile.js';
import { handleTaskEvent, type TaskStateChange } from '../../app/task-event.js';
import { publishChanges } from '../../app/publish-changes.js';
import { recordTimeline } from '../../app/record-timeline.js';
import { TENANT_CHANGED, type TenantChange } from '../../domain/domain-events.js';
import type { CostPrices } from '../../domain/usage.js';
import type { DomainEvent } from '../../ports/events.js';
import { documentClientFor, type DynamoDbTenantStore } from '../aws/dynamodb-tenant-store.js';
import { DynamoDbTimeline } from '../aws/dynamodb-timeline.js';
import { tenantChanges } from '../aws/dynamodb-stream-records.js';
import { LocalBus } from './local-bus.js';
import { ReconcileLoop } from './reconcile-loop.js';
import { pollStream } from './stream-poller.js';

export interface ControlPlaneOptions {
  dynamoClient: DynamoDBClient;
  dynamoEndpoint: string;
  store: DynamoDbTenantStore;
  /** Compute, routing, clock and settings: the same use case the reconcile Lambda runs. */
  reconcileDeps: Omit<ReconcileDeps, 'store'>;
  /** What `Tenant Usage` prices running time at: the tenants' architecture's. */
  prices: CostPrices;
  /** Where task state changes come from, as ECS sends them to EventBridge on AWS. */
  onTaskEvent?: (listener: (event: TaskStateChange) => void) => void;
  /** Every domain event on the bus. */
  onEvent?: (event: DomainEvent) => void;
  /** Every change of a tenant record as the table's stream reports it, e.g. to print its transitions. */
  onChange?: (change: TenantChange) => void;
  onError?: (context: string, error: unknown) => void;
}

export interface ControlPlane {
  bus: LocalBus;
  loop: ReconcileLoop;
  /** Reconcile every tenant that has, or should have, a task: on start and from the sweep. */
  resync(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The event flow of the design, in process: the table's stream → the publisher's code → a bus →
 * "Tenant Changed" → reconcile; task state changes → actual state. Only the transport differs
 * from AWS: the use cases and the DynamoDB adapter are the same.
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { store, onError = () => {} } = options;
  const deps: ReconcileDeps = { ...options.reconcileDeps, store };
  const bus = new LocalBus((error, event) => onError(`handling ${event.detailType} for ${event.tenantId}`, error));
  const loop = new ReconcileLoop({
    reconcile: (tenantId) => reconcile(deps, tenantId),
    onError: (tenantId, error) => onError(`reconciling ${tenantId}`, error),
  });
  bus.subscribe(TENANT_CHANGED, (event) => loop.trigger(event.tenantId));
  if (options.onEvent) bus.subscribe('*', options.onEvent);

  const timeline = new DynamoDbTimeline({ tableName: store.tableName, client: documentClientFor(options.dynamoClient) });
  const poller = await pollStream({
    dynamoClient: options.dynamoClient,
    endpoint: options.dynamoEndpoint,
    tableName: store.tableName,
    onRecords: async (records) => {
      const changes = tenantChanges(records);
      for (const change of changes) options.onChange?.(change);
      // As the stream publisher does on AWS: the events first, then the timeline, which never holds them back.
      await publishChanges({ publisher: bus, prices: options.prices }, changes);
      await recordTimeline({ timeline, onError: (tenantId, error) => onError(`recording the timeline of ${tenantId}`, error) }, changes);
    },
    onError: (error) => onError('reading the table stream', error),
  });

  options.onTaskEvent?.((event) => {
    handleTaskEvent({ store, clock: deps.clock, plans: deps.settings.plans }, event).catch((error: unknown) =>
      onError(`recording a task event for ${event.task.tenantId}`, error),
    );
  });

  async function resync(): Promise<number> {
    let cursor: string | undefined;
    let count = 0;
    do {
      const page = await store.listActive({ limit: 100, ...(cursor ? { cursor } : {}) });
      for (const tenant of page.items) loop.trigger(tenant.id);
      count += page.items.length;
      cursor = page.cursor;
    } while (cursor);
    return count;
  }

  return {
    bus,
    loop,
    resync,
    async stop() {
      await poller.stop();
      await loop.stop();
    },
  };
}
