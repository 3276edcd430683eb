import { CloudWatchLogsClient, paginateFilterLogEvents, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { ValidationError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { LogLine, LogPage, LogQuery, LogSource, TenantLogs } from '../../ports/tenant-logs.js';
import { tenantLogStream } from '../common/names.js';

/** FilterLogEvents takes at most 100 stream names: the newest tasks are the ones asked about. */
const MAX_STREAMS = 100;
/** Without a starting point, the newest lines are looked for in this last stretch of time. */
const RECENT_WINDOW_MS = 3_600_000;
/** Pages read per request at most: a request answers in bounded time, and `next` goes on from there. */
const MAX_PAGES = 5;

/** Where a page ended: the time of its last line, and the ids of the lines at that very time. */
interface Position {
  t: number;
  ids: string[];
}

/**
 * Tenants' output on AWS: the tenant log group, where the awslogs driver names each task's
 * stream `tenant/app/<task id>`. Only the streams of the tenant's own tasks are read (their ids
 * come from its timeline), so one tenant's request never returns another's lines.
 */
export class CloudWatchTenantLogs implements TenantLogs {
  private readonly logGroupName: string;
  private readonly client: CloudWatchLogsClient;
  private readonly clock: Clock;

  constructor({
    logGroupName,
    client = new CloudWatchLogsClient({}),
    clock = systemClock,
  }: {
    logGroupName: string;
    client?: CloudWatchLogsClient;
    clock?: Clock;
  }) {
    this.logGroupName = logGroupName;
    this.client = client;
    this.clock = clock;
  }

  async read({ tasks }: LogSource, { since, limit, next }: LogQuery): Promise<LogPage> {
    const after = next === undefined ? undefined : decode(next);
    const newest = after === undefined && since === undefined;
    const startTime = after?.t ?? (since !== undefined ? Date.parse(since) : this.clock.now().getTime() - RECENT_WINDOW_MS);
    if (tasks.length === 0) return { lines: [], next: encode(after ?? { t: startTime, ids: [] }) };

    const found: Array<LogLine & { t: number; id: string }> = [];
    try {
      const pages = paginateFilterLogEvents(
        { client: this.client, pageSize: Math.min(limit, 10_000) },
        { logGroupName: this.logGroupName, logStreamNames: tasks.slice(0, MAX_STREAMS).map(tenantLogStream), startTime },
      );
      let read = 0;
      for await (const page of pages) {
        for (const event of page.events ?? []) {
          const t = event.timestamp ?? 0;
          const id = event.eventId ?? '';
          if (after && t === after.t && after.ids.includes(id)) continue;
          found.push({ at: new Date(t).toISOString(), message: (event.message ?? '').replace(/\n$/, ''), t, id });
        }
        // The newest lines need every page of the window; a page from a starting point, only enough lines.
        if (++read >= MAX_PAGES || (!newest && found.length >= limit)) break;
      }
    } catch (error) {
      // No such group or stream yet (the task has not written anything): no lines.
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }

    const page = newest ? found.slice(-limit) : found.slice(0, limit);
    const last = page.at(-1);
    const seenBefore = last && after?.t === last.t ? after.ids : [];
    const position = last
      ? { t: last.t, ids: [...seenBefore, ...page.filter((line) => line.t === last.t).map((line) => line.id)] }
      : (after ?? { t: startTime, ids: [] });
    return { lines: page.map(({ at, message }) => ({ at, message })), next: encode(position) };
  }
}

function encode(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function decode(next: string): Position {
  try {
    const parsed = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as Position;
    if (Number.isSafeInteger(parsed.t) && Array.isArray(parsed.ids) && parsed.ids.every((id) => typeof id === 'string')) return parsed;
  } catch {
    // Reported below, as any other token we did not hand out.
  }
  throw new ValidationError('Invalid next: pass back the "next" of a previous answer.', { next: 'unknown' });
}
