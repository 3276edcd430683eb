import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  type FilteredLogEvent,
  type FilterLogEventsCommandInput,
} from '@aws-sdk/client-cloudwatch-logs';
import { CloudWatchTenantLogs } from '../../shared/adapters/aws/cloudwatch-tenant-logs.js';
import { LocalTenantLogs } from '../../shared/adapters/local/local-tenant-logs.js';
import { describeTenantLogsContract } from './tenant-logs.contract.js';

describeTenantLogsContract('LocalTenantLogs (files)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'dormouse-logs-'));
  const logs = new LocalTenantLogs(root);
  return {
    logs,
    source: { tenantId: 'acme', tasks: [] },
    print: async (messages, at) => {
      for (const message of messages) await logs.append('acme', { at: at.toISOString(), stream: 'stdout', message });
    },
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
});

/**
 * CloudWatch Logs as FilterLogEvents answers: the named streams' events from `startTime`, in time
 * order, `limit` a page, with a token for the next page.
 */
describeTenantLogsContract('CloudWatchTenantLogs (over a model of FilterLogEvents)', async () => {
  const client = new CloudWatchLogsClient({ region: 'eu-west-1' });
  const cloudWatch = mockClient(client);
  const events: Array<FilteredLogEvent & { logStreamName: string }> = [];
  cloudWatch.on(FilterLogEventsCommand).callsFake((input: FilterLogEventsCommandInput) => {
    const matching = events.filter(
      (event) => input.logStreamNames?.includes(event.logStreamName) && (event.timestamp ?? 0) >= (input.startTime ?? 0),
    );
    const from = Number(input.nextToken ?? 0);
    const to = from + (input.limit ?? 10_000);
    return { events: matching.slice(from, to), ...(to < matching.length ? { nextToken: String(to) } : {}) };
  });
  let id = 0;
  return {
    logs: new CloudWatchTenantLogs({ logGroupName: 'Dormouse-TenantLogs', client }),
    source: { tenantId: 'acme', tasks: ['task1'] },
    print: async (messages, at) => {
      for (const message of messages) {
        events.push({ logStreamName: 'tenant/app/task1', eventId: `e${++id}`, timestamp: at.getTime(), message: `${message}\n` });
      }
      // Another tenant's task, in the same group: never read.
      events.push({ logStreamName: 'tenant/app/other', eventId: `e${++id}`, timestamp: at.getTime(), message: 'not acme\n' });
      events.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
    },
    close: async () => {
      cloudWatch.restore();
    },
  };
});
