import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { Activity, ActivityLevel, ActivityTarget } from '../../ports/activity.js';

/** GetMetricData takes at most 500 queries per call. */
export const MAX_QUERIES_PER_CALL = 500;
/** ALB metrics are published per minute; a finer period returns nothing more. */
const PERIOD_SECONDS = 60;
const MINUTE_MS = 60_000;
/** `targetgroup/<name>/<id>`: the TargetGroup dimension, as the end of the target group's ARN. */
const TARGET_GROUP_RESOURCE = /^targetgroup\/[^/]+\/[0-9a-f]+$/;

export interface CloudWatchActivityOptions {
  client?: CloudWatchClient;
  /**
   * `app/<name>/<id>`, the end of the load balancer's ARN: the LoadBalancer dimension. One per
   * shard, in shard order; a single name is an installation of one shard.
   */
  loadBalancerFullName: string | readonly string[];
}

/**
 * Tenant activity from the ALB's CloudWatch metrics: `RequestCount` per target group.
 *
 * Connections are always reported as 0. The ALB publishes `ActiveConnectionCount` with the
 * LoadBalancer dimension only (AWS docs, "CloudWatch metrics for your Application Load
 * Balancer"): there is no per-target-group series, so CloudWatch cannot say which tenant holds
 * an open WebSocket or a long download. The local gateway, which sees every connection,
 * reports real open connections.
 */
export class CloudWatchActivity implements Activity {
  private readonly client: CloudWatchClient;
  private readonly loadBalancerFullNames: readonly string[];

  constructor({ client = new CloudWatchClient({}), loadBalancerFullName }: CloudWatchActivityOptions) {
    this.client = client;
    this.loadBalancerFullNames = typeof loadBalancerFullName === 'string' ? [loadBalancerFullName] : loadBalancerFullName;
  }

  async activity(targets: ActivityTarget[], window: { start: Date; end: Date }): Promise<Map<string, ActivityLevel>> {
    const measurable = targets.flatMap((target) => {
      const targetGroup = targetGroupDimension(target.targetGroupArn);
      const loadBalancer = this.loadBalancerFullNames[target.shard ?? 0];
      // Not a target group ARN, or a shard this installation does not have: unmeasurable, so
      // left out of the answer rather than reported idle.
      return targetGroup === undefined || loadBalancer === undefined ? [] : [{ tenantId: target.tenantId, targetGroup, loadBalancer }];
    });
    // Whole minutes, widened outwards: a request early in the window's first minute still counts.
    const StartTime = new Date(Math.floor(window.start.getTime() / MINUTE_MS) * MINUTE_MS);
    const EndTime = new Date(Math.ceil(window.end.getTime() / MINUTE_MS) * MINUTE_MS);
    const levels = new Map<string, ActivityLevel>();
    for (let first = 0; first < measurable.length; first += MAX_QUERIES_PER_CALL) {
      const batch = measurable.slice(first, first + MAX_QUERIES_PER_CALL);
      // Queries of every shard share a call: each names its own load balancer.
      const queries = batch.map(({ targetGroup, loadBalancer }, index): MetricDataQuery => ({
        // Ids must start with a lowercase letter and hold only letters, digits and underscores.
        Id: queryId(index),
        MetricStat: {
          Metric: {
            Namespace: 'AWS/ApplicationELB',
            MetricName: 'RequestCount',
            Dimensions: [
              { Name: 'TargetGroup', Value: targetGroup },
              { Name: 'LoadBalancer', Value: loadBalancer },
            ],
          },
          Period: PERIOD_SECONDS,
          Stat: 'Sum',
        },
        ReturnData: true,
      }));
      const requests = await this.sumPages(queries, StartTime, EndTime);
      batch.forEach(({ tenantId }, index) => {
        const sum = requests.get(queryId(index));
        if (sum !== undefined) levels.set(tenantId, { requests: sum, connections: 0 });
      });
    }
    return levels;
  }

  /**
   * Sums each query's datapoints over every page of the answer. A query CloudWatch could not
   * answer (`InternalError`, `Forbidden`) is left out; one with no datapoints sums to 0, since
   * the ALB publishes nothing for a minute without requests.
   */
  private async sumPages(queries: MetricDataQuery[], StartTime: Date, EndTime: Date): Promise<Map<string, number>> {
    const sums = new Map<string, number>();
    const unanswered = new Set<string>();
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetMetricDataCommand({ MetricDataQueries: queries, StartTime, EndTime, ...(NextToken ? { NextToken } : {}) }),
      );
      for (const result of page.MetricDataResults ?? []) {
        if (!result.Id) continue;
        if (result.StatusCode === 'InternalError' || result.StatusCode === 'Forbidden') unanswered.add(result.Id);
        const values = result.Values ?? [];
        sums.set(result.Id, (sums.get(result.Id) ?? 0) + values.reduce((total, value) => total + value, 0));
      }
      NextToken = page.NextToken;
    } while (NextToken);
    for (const id of unanswered) sums.delete(id);
    return sums;
  }
}

function queryId(index: number): string {
  return `q${index}`;
}

/** `targetgroup/<name>/<id>` from `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>`. */
export function targetGroupDimension(targetGroupArn: string): string | undefined {
  const resource = targetGroupArn.split(':').slice(5).join(':');
  return TARGET_GROUP_RESOURCE.test(resource) ? resource : undefined;
}
