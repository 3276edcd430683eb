import { CloudWatchLogsClient, paginateFilterLogEvents, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { ValidationError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { LogLine, LogPage, LogQuery, LogSource, TenantLogs } from '../../ports/tenant-logs.js';
import { tenantLogStream } from '../common/names.js';

/** FilterLogEvents takes at most 100 stream names: the newest tasks are the ones asked about. */
const MAX_STREAMS = 100;
/** Without a starting point, the newest lines are looked for in the last minute, then ten, then the last hour. */
const RECENT_WINDOWS_MS = [60_000, 600_000, 3_600_000];
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
    if (after === undefined && since === undefined) return this.newest(tasks, limit);
    const startTime = after?.t ?? Date.parse(since!);
    const { found } = await this.filter(tasks, startTime, limit, after);
    return pageOf(found.slice(0, limit), after ?? { t: startTime, ids: [] });
  }

  /**
   * The newest lines: FilterLogEvents reads forward only, so the last minute is read first, and
   * a wider stretch only when it holds fewer than `limit` lines.
   */
  private async newest(tasks: string[], limit: number): Promise<LogPage> {
    const now = this.clock.now().getTime();
    for (const [index, windowMs] of RECENT_WINDOWS_MS.entries()) {
      const startTime = now - windowMs;
      const { found, complete } = await this.filter(tasks, startTime, limit, undefined, true);
      // A stretch read only in part (a tenant printing that much) is the newest there is to show.
      if (found.length >= limit || !complete || index === RECENT_WINDOWS_MS.length - 1) {
        return pageOf(found.slice(-limit), { t: startTime, ids: [] });
      }
    }
    throw new Error('unreachable: the last window always answers');
  }

  /** The lines from `startTime`, after `after`, in time order; `all` reads the whole stretch (up to MAX_PAGES). */
  private async filter(
    tasks: string[],
    startTime: number,
    limit: number,
    after?: Position,
    all = false,
  ): Promise<{ found: FoundLine[]; complete: boolean }> {
    const found: FoundLine[] = [];
    if (tasks.length === 0) return { found, complete: true };
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
        if (!all && found.length >= limit) return { found, complete: true };
        if (++read >= MAX_PAGES) return { found, complete: page.nextToken === undefined };
      }
    } catch (error) {
      // No such group or stream yet (the task has not written anything): no lines.
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    return { found, complete: true };
  }
}

type FoundLine = LogLine & { t: number; id: string };

/** The lines as served, and where they end (`from` when there are none). */
function pageOf(page: FoundLine[], from: Position): LogPage {
  const last = page.at(-1);
  // Lines of the same millisecond seen on an earlier page stay seen.
  const seenBefore = last && from.t === last.t ? from.ids : [];
  const position = last ? { t: last.t, ids: [...seenBefore, ...page.filter((line) => line.t === last.t).map((line) => line.id)] } : from;
  return { lines: page.map(({ at, message }) => ({ at, message })), next: encode(position) };
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
