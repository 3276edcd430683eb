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
/** `…:task/<cluster>/<id>` (or the older `…:task/<id>`): the TaskId dimension is the id. */
const TASK_ID = /:task\/(?:[^/]+\/)?([0-9a-f]{32}|[0-9a-f-]{36})$/;
/** CloudWatch Metrics Insights reads only the most recent three hours. */
const METRICS_INSIGHTS_REACH_MS = 3 * 3_600_000;
/** The most series one Metrics Insights query returns. */
const METRICS_INSIGHTS_SERIES = 500;
const NETWORK_QUERY_ID = 'network';
/** What a cluster name may hold (ECS: letters, digits, hyphens, underscores), so it can be quoted in a query. */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * Task network metrics, from Container Insights with enhanced observability on the tenant cluster
 * (`ECS/ContainerInsights`, `NetworkRxBytes` per `ClusterName, TaskDefinitionFamily, TaskId`, in
 * bytes per second): they see traffic the load balancer does not count as requests, such as the
 * messages of a WebSocket opened long ago.
 */
export interface TaskNetworkOptions {
  /** The tenant cluster's name. */
  clusterName: string;
  /**
   * A minute in which a task received more than this many bytes per second on average is busy.
   * It must sit above what the load balancer's health checks bring in alone.
   */
  busyBytesPerSecond: number;
}

export interface CloudWatchActivityOptions {
  client?: CloudWatchClient;
  /**
   * `app/<name>/<id>`, the end of the load balancer's ARN: the LoadBalancer dimension. One per
   * shard, in shard order; a single name is an installation of one shard.
   */
  loadBalancerFullName: string | readonly string[];
  /** Also read each tenant's task network traffic. @default requests only */
  taskNetwork?: TaskNetworkOptions;
}

/**
 * Tenant activity from CloudWatch: the ALB's `RequestCount` per target group and, with
 * `taskNetwork`, the bytes each tenant's task received per minute (`busyMinutes`).
 *
 * Connections are always reported as 0. The ALB publishes `ActiveConnectionCount` with the
 * LoadBalancer dimension only (AWS docs, "CloudWatch metrics for your Application Load
 * Balancer"): there is no per-target-group series, so CloudWatch cannot say which tenant holds
 * an open WebSocket or a long download. The task's own network traffic can: one Metrics Insights
 * query, in the first call, returns every task of the cluster grouped by task id. The local
 * gateway, which sees every connection, reports the ones in use: requests under way and WebSockets.
 */
export class CloudWatchActivity implements Activity {
  private readonly client: CloudWatchClient;
  private readonly loadBalancerFullNames: readonly string[];
  private readonly taskNetwork: TaskNetworkOptions | undefined;

  constructor({ client = new CloudWatchClient({}), loadBalancerFullName, taskNetwork }: CloudWatchActivityOptions) {
    if (taskNetwork && !CLUSTER_NAME.test(taskNetwork.clusterName)) {
      throw new Error(`Not an ECS cluster name: ${JSON.stringify(taskNetwork.clusterName)}`);
    }
    this.client = client;
    this.loadBalancerFullNames = typeof loadBalancerFullName === 'string' ? [loadBalancerFullName] : loadBalancerFullName;
    this.taskNetwork = taskNetwork;
  }

  async activity(targets: ActivityTarget[], window: { start: Date; end: Date }): Promise<Map<string, ActivityLevel>> {
    const measurable = targets.flatMap((target) => {
      const targetGroup = targetGroupDimension(target.targetGroupArn);
      const loadBalancer = this.loadBalancerFullNames[target.shard ?? 0];
      // Not a target group ARN, or a shard this installation does not have: unmeasurable, so
      // left out of the answer rather than reported idle.
      if (targetGroup === undefined || loadBalancer === undefined) return [];
      // A task whose id cannot be read is asked about as no task is, but its traffic stays unknown.
      const taskId = target.taskArn === undefined ? null : taskIdOf(target.taskArn);
      return [{ tenantId: target.tenantId, targetGroup, loadBalancer, taskId }];
    });
    // Whole minutes, widened outwards: a request early in the window's first minute still counts.
    const StartTime = new Date(Math.floor(window.start.getTime() / MINUTE_MS) * MINUTE_MS);
    const EndTime = new Date(Math.ceil(window.end.getTime() / MINUTE_MS) * MINUTE_MS);
    // Queries of every shard share a call: each names its own load balancer.
    const requestQueries = measurable.map(({ targetGroup, loadBalancer }, index) =>
      requestCountQuery(queryId(index), targetGroup, loadBalancer),
    );
    const network = this.networkQuery(targets, StartTime, EndTime);
    const queries = network ? [network, ...requestQueries] : requestQueries;
    const answers = new Map<string, Map<string, number[]>>();
    for (let first = 0; first < queries.length; first += MAX_QUERIES_PER_CALL) {
      for (const [id, series] of await this.readPages(queries.slice(first, first + MAX_QUERIES_PER_CALL), StartTime, EndTime)) {
        answers.set(id, series);
      }
    }

    const busy = network ? this.busyMinutes(answers.get(NETWORK_QUERY_ID)) : undefined;
    const levels = new Map<string, ActivityLevel>();
    measurable.forEach(({ tenantId, taskId }, index) => {
      const series = answers.get(queryId(index));
      if (series === undefined) return;
      const requests = sum([...series.values()].flat());
      if (!this.taskNetwork) {
        levels.set(tenantId, { requests, connections: 0 });
        return;
      }
      // Without a task there is no task traffic; a task the answer cannot speak for is unmeasured.
      const busyMinutes = taskId === null ? 0 : taskId === undefined ? undefined : busy?.(taskId);
      if (busyMinutes !== undefined) levels.set(tenantId, { requests, connections: 0, busyMinutes });
      else if (requests > 0) levels.set(tenantId, { requests, connections: 0 });
    });
    return levels;
  }

  /**
   * The Metrics Insights query for the tasks' received bytes, per task and minute, busiest first;
   * none without task network options, without a task to ask about, or for a window reaching
   * further back than Metrics Insights reads.
   */
  private networkQuery(targets: ActivityTarget[], StartTime: Date, EndTime: Date): MetricDataQuery | undefined {
    if (!this.taskNetwork || !targets.some((target) => target.taskArn !== undefined)) return undefined;
    // The series come back labelled with their group's value, the task id.
    if (EndTime.getTime() - StartTime.getTime() > METRICS_INSIGHTS_REACH_MS) return undefined;
    return {
      Id: NETWORK_QUERY_ID,
      Expression:
        'SELECT AVG(NetworkRxBytes) FROM SCHEMA("ECS/ContainerInsights", ClusterName, TaskDefinitionFamily, TaskId) ' +
        `WHERE ClusterName = '${this.taskNetwork.clusterName}' GROUP BY TaskId ORDER BY MAX() DESC LIMIT ${METRICS_INSIGHTS_SERIES}`,
      Period: PERIOD_SECONDS,
      ReturnData: true,
    };
  }

  /**
   * Busy minutes of a task, from the network query's series (labelled with their task id).
   * A task without a series had no datapoint, so no traffic, unless the answer was cut at its
   * series limit while still holding busy tasks: the cut ones might be busy too, so unknown.
   * Undefined for every task when the query could not be answered.
   */
  private busyMinutes(series: Map<string, number[]> | undefined): ((taskId: string) => number | undefined) | undefined {
    if (series === undefined) return () => undefined;
    const threshold = this.taskNetwork!.busyBytesPerSecond;
    const busy = new Map([...series].map(([taskId, values]) => [taskId, values.filter((value) => value > threshold).length]));
    const cut = series.size >= METRICS_INSIGHTS_SERIES && [...busy.values()].every((minutes) => minutes > 0);
    return (taskId) => busy.get(taskId) ?? (cut ? undefined : 0);
  }

  /**
   * Each query's datapoints over every page of the answer, by query id and series label (a
   * Metrics Insights query answers one series per group, all with its id). A query CloudWatch
   * could not answer (`InternalError`, `Forbidden`) is left out; one with no datapoints has no
   * values, since the ALB publishes nothing for a minute without requests.
   */
  private async readPages(queries: MetricDataQuery[], StartTime: Date, EndTime: Date): Promise<Map<string, Map<string, number[]>>> {
    const answers = new Map<string, Map<string, number[]>>();
    const unanswered = new Set<string>();
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetMetricDataCommand({ MetricDataQueries: queries, StartTime, EndTime, ...(NextToken ? { NextToken } : {}) }),
      );
      for (const result of page.MetricDataResults ?? []) {
        if (!result.Id) continue;
        if (result.StatusCode === 'InternalError' || result.StatusCode === 'Forbidden') unanswered.add(result.Id);
        const series = answers.get(result.Id) ?? new Map<string, number[]>();
        answers.set(result.Id, series);
        const label = result.Label ?? '';
        series.set(label, [...(series.get(label) ?? []), ...(result.Values ?? [])]);
      }
      NextToken = page.NextToken;
    } while (NextToken);
    for (const id of unanswered) answers.delete(id);
    // A query with no series at all still answered: nothing was published.
    for (const query of queries) if (query.Id && !unanswered.has(query.Id) && !answers.has(query.Id)) answers.set(query.Id, new Map());
    return answers;
  }
}

function requestCountQuery(Id: string, targetGroup: string, loadBalancer: string): MetricDataQuery {
  return {
    // Ids must start with a lowercase letter and hold only letters, digits and underscores.
    Id,
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
  };
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** The TaskId dimension of a task ARN. */
export function taskIdOf(taskArn: string): string | undefined {
  return TASK_ID.exec(taskArn)?.[1];
}

function queryId(index: number): string {
  return `q${index}`;
}

/** `targetgroup/<name>/<id>` from `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>`. */
export function targetGroupDimension(targetGroupArn: string): string | undefined {
  const resource = targetGroupArn.split(':').slice(5).join(':');
  return TARGET_GROUP_RESOURCE.test(resource) ? resource : undefined;
}
