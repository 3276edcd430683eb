import { performance } from 'node:perf_hooks';
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbTenantStore, tenantItem } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { CloudWatchActivity } from '../../shared/adapters/aws/cloudwatch-activity.js';
import { sweep } from '../../shared/app/sweep.js';
import { newTenant, type Tenant } from '../../shared/domain/tenant.js';
import { freshTables, putItems } from '../lib/dynamodb.js';
import type { Row, Section } from '../lib/types.js';

const LOAD_BALANCER = 'app/dormouse/50dc6c495c0c9188';
const NOW = new Date('2026-11-21T12:00:00.000Z');

/** A tenant as the store keeps it: running with a target group, or asleep. */
function tenant(index: number, active: boolean): Tenant {
  const base = newTenant({
    slug: `t${index}`,
    email: `t${index}@example.test`,
    plan: 'trial',
    tokenHash: '0'.repeat(64),
    now: new Date(NOW.getTime() - 3_600_000),
    trialDays: 14,
  });
  return active
    ? {
        ...base,
        status: {
          ...base.status,
          phase: 'Running',
          observedGeneration: 1,
          slot: true,
          targetGroupArn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/dm-t${index}/${index.toString(16).padStart(16, '0')}`,
          transitionAt: base.createdAt,
        },
        version: 1,
      }
    : {
        ...base,
        spec: { ...base.spec, desired: 'passivated', generation: 2 },
        status: { ...base.status, phase: 'Passivated', observedGeneration: 2 },
        version: 1,
      };
}

/**
 * The idle sweep over tables of different sizes and shares of active tenants: what it reads,
 * writes and asks CloudWatch must follow the active tenants, not the table.
 */
const sweepScale: Section = {
  id: 'sweep-scale',
  title: 'Sweep at scale',
  async run(context) {
    const dynamo = await context.dynamo();
    const rows: Row[] = [];
    for (const [total, activeCount] of [
      [10_000, 100],
      [1_000, 100],
      [10_000, 10],
    ] as const) {
      context.progress(`sweep at scale: ${total} tenants, ${activeCount} active`);
      const tables = await freshTables(dynamo.endpoint, 'sweep');
      try {
        const items = Array.from({ length: total }, (_, index) => tenantItem(tenant(index, index < activeCount)));
        await putItems(tables, items);
        tables.meter.take();

        const cloudwatch = new CloudWatchClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
        const mock = mockClient(cloudwatch);
        // Half of the active tenants had traffic; the rest are idle and get passivated.
        mock.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
          MetricDataResults: (input.MetricDataQueries ?? []).map((query, index) => ({
            Id: query.Id,
            Values: index % 2 === 0 ? [3] : [],
            Timestamps: index % 2 === 0 ? [NOW] : [],
          })),
        }));
        const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
        let read = 0;
        const counting = Object.assign(Object.create(store) as DynamoDbTenantStore, {
          listActive: async (query: Parameters<DynamoDbTenantStore['listActive']>[0]) => {
            const page = await store.listActive(query);
            read += page.items.length;
            return page;
          },
          listTrialsEndingBefore: async (time: string, query: Parameters<DynamoDbTenantStore['listTrialsEndingBefore']>[1]) => {
            const page = await store.listTrialsEndingBefore(time, query);
            read += page.items.length;
            return page;
          },
        });
        const started = performance.now();
        const report = await sweep(
          {
            store: counting,
            activity: new CloudWatchActivity({ client: cloudwatch, loadBalancerFullName: LOAD_BALANCER }),
            clock: { now: () => NOW },
            reconcile: async () => ({}),
          },
          // Every tenant was reconciled recently: this measures the sweep, not the reconciler.
          { resyncMs: 1e12 },
        );
        const seconds = (performance.now() - started) / 1000;
        const capacity = tables.meter.take();
        const cloudwatchCalls = mock.commandCalls(GetMetricDataCommand).length;
        mock.restore();
        cloudwatch.destroy();
        rows.push({
          section: 'Sweep at scale',
          case: `${total.toLocaleString('en')} tenants, ${activeCount} active (${((activeCount / total) * 100).toFixed(1)} %)`,
          metric: 'One sweep',
          value:
            `${read} tenant items read, ${capacity.rcu.toFixed(1)} RCU, ${capacity.wcu.toFixed(1)} WCU, ${cloudwatchCalls} GetMetricData call(s), ` +
            `${report.passivated} passivated, ${seconds.toFixed(2)} s`,
          target: 'grows with the active tenants, not the table',
          // Tenants with traffic move to the end of the index and are met again at the end of
          // the pass, so a pass reads up to twice the active ones; never the tenants at rest.
          // Capacity too: a query that reads the tenants at rest (a walk of an index) shows here
          // even when it hands back no item; two read units an active tenant is ample.
          pass: read <= 2 * activeCount && capacity.rcu <= 2 * activeCount && report.done,
          data: { total, activeCount, read, ...capacity, cloudwatchCalls, seconds, report },
        });
      } finally {
        await tables.drop();
      }
    }
    return {
      rows,
      notes: [
        'Sweep at scale: DynamoDB Local with the real tenant store and sweep; CloudWatch mocked (aws-sdk-client-mock) answering half of the active tenants with traffic. ' +
          'Tenants at rest are written in bulk beforehand and not counted. Reconciles are stubbed out (they are measured in the lifecycle section).',
      ],
    };
  },
};

export default sweepScale;
