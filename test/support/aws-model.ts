import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import {
  ClientException,
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  ListTaskDefinitionFamiliesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ListTasksCommandInput,
  type RegisterTaskDefinitionCommandInput,
  type RunTaskCommandInput,
  type Tag as EcsTag,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import {
  AccessPointAlreadyExists,
  AccessPointNotFound,
  CreateAccessPointCommand,
  DeleteAccessPointCommand,
  DescribeAccessPointsCommand,
  EFSClient,
  FileSystemNotFound,
  type AccessPointDescription,
  type CreateAccessPointCommandInput,
} from '@aws-sdk/client-efs';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import {
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
  type Rule,
  type Tag,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { EcsTaskShape } from '../../shared/adapters/aws/ecs-compute.js';
import { INSTALLATION_TAG, TENANT_TAG, launchedAsFromTags } from '../../shared/adapters/common/names.js';
import type { LaunchedAs } from '../../shared/domain/tenant.js';

/**
 * The shared model of AWS: the one the bench runs on, and the one the port contract suites
 * (test/contracts) and the reconciler's property-based run check the AWS adapters against.
 *
 * A tiny, consistent AWS behind the real SDK clients, built with aws-sdk-client-mock: what
 * RunTask starts, DescribeTasks shows and moves along as the clock advances; a registered
 * target turns healthy; a rule exists once created. The real adapters (EcsCompute, ElbRouting,
 * EventBridgePublisher) run unchanged over these clients, and the mocks' call histories say
 * which AWS API calls they made. Optionally, token buckets throttle calls as AWS does.
 *
 * ListTasks refuses `startedBy` combined with another filter, which the ECS API reference forbids,
 * and lists only tasks whose desired status is RUNNING when given `startedBy`, as ECS does.
 *
 * Spot interruptions happen when a test calls `interrupt`.
 *
 * Persistent data: one EFS file system (FILE_SYSTEM_ID) whose access points CreateAccessPoint
 * makes once per client token (a repeated token answers AccessPointAlreadyExists with the id,
 * as EFS does; a deleted access point's token is forgotten); ECS task definitions by family and
 * revision, the installation's own (BASE_TASK_DEFINITION) registered from the start; and the
 * data cleaner function (CLEANER_FUNCTION), which records whose files it deleted.
 *
 * DNS: one Route 53 hosted zone (HOSTED_ZONE_ID) whose record sets ChangeResourceRecordSets
 * changes as Route 53 does, a request whole or not at all (InvalidChangeBatch, naming every
 * refused change as Route 53 words it: CREATE of a record that exists, DELETE with values other
 * than the current ones; one record twice in a request, more than 1 000 changes), and
 * ListResourceRecordSets lists from a name and type onwards.
 *
 * Not modelled: Spot capacity shortages, ENI or vCPU quotas, eventual consistency of ECS reads,
 * ListTasks pagination (a tenant has one or two tasks), the files themselves, access point and
 * task definition quotas.
 */

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' };
export const CLUSTER = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/dormouse-tenants`;
export const LISTENER_ARN = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:listener/app/dormouse/0123456789abcdef/fedcba9876543210`;
/** One load balancer per routing shard, each with its HTTPS listener; shard 0's is `LISTENER_ARN`. */
export const SHARD_COUNT = 3;
/** The most shards an installation may have: the model has a listener for each, the tests use the first SHARD_COUNT. */
export const MODELLED_SHARDS = 20;
/** Every modelled shard's listener, in shard order. */
export const ALL_LISTENER_ARNS = Array.from({ length: MODELLED_SHARDS }, (_, shard) =>
  shard === 0
    ? LISTENER_ARN
    : `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:listener/app/dormouse-${shard}/${shard.toString(16)}123456789abcde/fedcba987654321${shard.toString(16)}`,
);
export const LISTENER_ARNS = ALL_LISTENER_ARNS.slice(0, SHARD_COUNT);
export const VPC_ID = 'vpc-0123456789abcdef0';
/** The load balancer's CloudWatch dimension: the end of its ARN. */
export const LOAD_BALANCER_FULL_NAME = 'app/dormouse/0123456789abcdef';
/** Each shard's load balancer dimension, in shard order: the middle of its listener's ARN. */
export const LOAD_BALANCER_FULL_NAMES = LISTENER_ARNS.map((arn) => arn.split(':listener/')[1]!.split('/').slice(0, 3).join('/'));

/** The load balancer a listener belongs to, as its CloudWatch dimension. */
function loadBalancerOf(listenerArn: string): string {
  return listenerArn.split(':listener/')[1]!.split('/').slice(0, 3).join('/');
}
/** The installation's task definition, registered in every model. */
export const BASE_TASK_DEFINITION = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/dormouse-tenant:1`;
export const FILE_SYSTEM_ID = 'fs-0123456789abcdef0';
export const CLEANER_FUNCTION = 'dormouse-data-cleaner';
/** The zone of the tenants' domain, and the canonical zone of the region's load balancers. */
export const HOSTED_ZONE_ID = 'Z0123456789TENANTS';
export const ELB_HOSTED_ZONE_ID = 'Z35SXDOTRQ7X7K';
/** A page of DescribeAccessPoints, ListTaskDefinitions and ListTaskDefinitionFamilies when the caller names no size. */
const DEFAULT_PAGE = 100;

/** How long things take in this AWS, in milliseconds of the world's clock. */
export interface WorldTimings {
  /** RunTask → PENDING (the task has its ENI and IP). */
  provisioningMs: number;
  /** PENDING → RUNNING (image pulled, container started). */
  pendingMs: number;
  /** Registration → healthy: ElbRouting's health check interval × healthy threshold. */
  healthyAfterMs: number;
  /** StopTask → STOPPED, through STOPPING and DEPROVISIONING. */
  stoppingMs: number;
  /** A deregistered target drains this long before it is gone. */
  drainingMs: number;
}

export interface RateLimit {
  /** Shown in the bench notes. */
  name: string;
  /** The SDK operation names that take a token from this bucket. */
  operations: string[];
  /** Burst: the bucket's size. */
  capacity: number;
  /** Sustained rate: tokens added per second. */
  refillPerSecond: number;
  source: string;
  /** The error a throttled call throws, as the service names it. @default 'ThrottlingException' */
  errorName?: string;
}

export interface AwsModelOptions {
  /** Epoch ms: a manual clock for step-by-step runs, Date.now for real-time ones. */
  now: () => number;
  timings: WorldTimings;
  /** Call-rate buckets; a call finding its bucket empty fails with ThrottlingException. */
  limits?: RateLimit[];
  /** Fargate task launches: a task beyond this bucket is refused with ThrottlingException. */
  fargateLaunches?: Omit<RateLimit, 'operations'>;
  /** Listener rules allowed per load balancer before CreateRule answers TooManyRulesException. @default 50_000 */
  maxRules?: number;
}

/** An ECS task state change, as EventBridge delivers it to the task-events function. */
export interface TaskStateChange {
  detail: EcsTaskShape & { version: number; clusterArn: string };
  /** Epoch ms of the change. */
  at: number;
}

interface WorldTask {
  arn: string;
  taskDefinition: string;
  group: string;
  startedBy: string;
  tags: EcsTag[];
  clientToken: string;
  capacityProvider: string;
  lastStatus: string;
  desiredStatus: 'RUNNING' | 'STOPPED';
  ip?: string;
  startedAt?: number;
  stoppingAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  /** When the next lifecycle move happens. */
  nextAt: number;
  version: number;
}

interface WorldTarget {
  ip: string;
  registeredAt: number;
  drainingUntil?: number;
}

interface WorldTargetGroup {
  arn: string;
  name: string;
  tags: Tag[];
  targets: Map<string, WorldTarget>;
}

interface WorldRule {
  arn: string;
  /** Rules live on a listener; their ARN names it. */
  listenerArn: string;
  priority: number;
  host: string;
  targetGroupArn: string;
  tags: Tag[];
}

interface WorldTaskDefinition {
  definition: TaskDefinition;
  tags: EcsTag[];
}

interface WorldAccessPoint {
  description: AccessPointDescription;
  token: string;
}

/** `items[from(token) … +size]` and the token of the next page, as the list APIs page. */
function page<T>(items: T[], token: string | undefined, size: number | undefined): { items: T[]; next?: string } {
  const start = Number(token ?? 0);
  const end = start + (size ?? DEFAULT_PAGE);
  return { items: items.slice(start, end), ...(end < items.length ? { next: String(end) } : {}) };
}

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly limit: Omit<RateLimit, 'operations'>,
    private readonly now: () => number,
  ) {
    this.tokens = limit.capacity;
    this.last = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.limit.capacity, this.tokens + ((now - this.last) / 1000) * this.limit.refillPerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function tagValue(tags: Tag[], key: string): string | undefined {
  return tags.find((tag) => tag.Key === key)?.Value;
}

function toRule(rule: WorldRule): Rule {
  return {
    RuleArn: rule.arn,
    Priority: String(rule.priority),
    IsDefault: false,
    Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [rule.host] } }],
    Actions: [{ Type: 'forward', TargetGroupArn: rule.targetGroupArn }],
  };
}

/** A record set as Route 53 lists it back: an ELB alias's DNS name with `dualstack.` before it and the final dot. */
function route53Listed(set: ResourceRecordSet): ResourceRecordSet {
  const copy = structuredClone(set);
  if (copy.AliasTarget?.DNSName) {
    const name = copy.AliasTarget.DNSName.toLowerCase().replace(/\.?$/, '.');
    copy.AliasTarget.DNSName = name.startsWith('dualstack.') ? name : `dualstack.${name}`;
  }
  return copy;
}

/** An error shaped as the SDK throws a service exception: matched by name, with HTTP metadata. */
function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400, attempts: 1, totalRetryDelay: 0 },
  });
}

export class AwsModel {
  readonly ecsClient = new ECSClient({ region: REGION, credentials: CREDENTIALS });
  readonly elbClient = new ElasticLoadBalancingV2Client({ region: REGION, credentials: CREDENTIALS });
  readonly eventsClient = new EventBridgeClient({ region: REGION, credentials: CREDENTIALS });
  readonly cloudWatchClient = new CloudWatchClient({ region: REGION, credentials: CREDENTIALS });
  readonly efsClient = new EFSClient({ region: REGION, credentials: CREDENTIALS });
  readonly lambdaClient = new LambdaClient({ region: REGION, credentials: CREDENTIALS });
  readonly route53Client = new Route53Client({ region: REGION, credentials: CREDENTIALS });
  private readonly route53: AwsStub<any, any, any>;
  /** The hosted zone's record sets, by `<name> <type>`. */
  private readonly recordSets = new Map<string, ResourceRecordSet>();
  private readonly ecs: AwsStub<any, any, any>;
  private readonly efs: AwsStub<any, any, any>;
  private readonly lambda: AwsStub<any, any, any>;
  private readonly elb: AwsStub<any, any, any>;
  private readonly events: AwsStub<any, any, any>;
  private readonly cloudWatch: AwsStub<any, any, any>;
  /** The ALB's RequestCount datapoints, per TargetGroup dimension. */
  private readonly requestCounts = new Map<string, Array<{ at: number; count: number }>>();

  private readonly tasks = new Map<string, WorldTask>();
  /** RunTask's answer by client token, as ECS keeps it for a repeated request. */
  private readonly answersByToken = new Map<string, { tasks: Task[]; failures: [] }>();
  private readonly targetGroups = new Map<string, WorldTargetGroup>();
  private readonly rules = new Map<string, WorldRule>();
  /** Task definitions by family, revisions in order. */
  private readonly taskDefinitionFamilies = new Map<string, WorldTaskDefinition[]>();
  private readonly accessPoints = new Map<string, WorldAccessPoint>();
  /** Tenants whose files the cleaner function deleted, in order. */
  readonly cleaned: string[] = [];
  /** Tenants whose files the data function measured, in order; and the sizes it answers. */
  readonly measured: string[] = [];
  readonly dataBytes = new Map<string, number>();
  /** Indexes, so a thousand tenants do not make every call a scan. */
  private readonly taskByIp = new Map<string, WorldTask>();
  private readonly groupByArn = new Map<string, WorldTargetGroup>();
  /** Taken priorities, per listener: each listener has its own range. */
  private readonly priorities = new Map<string, Set<number>>();
  private readonly tasksByStartedBy = new Map<string, WorldTask[]>();
  private readonly sortedRules = new Map<string, Rule[]>();
  /** Nothing moves before this time, so settle() can return at once until then. */
  private nextChangeAt = Number.POSITIVE_INFINITY;
  private readonly buckets: Array<{ bucket: TokenBucket; operations: Set<string>; errorName: string }>;
  private readonly fargateBucket: TokenBucket | undefined;
  private sequence = 0;

  /** ThrottlingExceptions thrown, by operation (Fargate launch refusals count under `RunTask (Fargate launch rate)`). */
  readonly throttled: Record<string, number> = {};
  /** Tasks that RunTask actually launched (a retried client token launches nothing). */
  tasksLaunched = 0;
  /** Entries PutEvents accepted, in order. */
  readonly published: PutEventsRequestEntry[] = [];
  /** ECS task state changes, for a subscriber playing EventBridge → task-events. */
  onTaskChange: ((change: TaskStateChange) => void) | undefined;

  constructor(private readonly options: AwsModelOptions) {
    this.buckets = (options.limits ?? []).map((limit) => ({
      bucket: new TokenBucket(limit, options.now),
      operations: new Set(limit.operations),
      errorName: limit.errorName ?? 'ThrottlingException',
    }));
    this.fargateBucket = options.fargateLaunches && new TokenBucket(options.fargateLaunches, options.now);
    this.ecs = mockClient(this.ecsClient);
    this.elb = mockClient(this.elbClient);
    this.events = mockClient(this.eventsClient);
    this.cloudWatch = mockClient(this.cloudWatchClient);
    this.efs = mockClient(this.efsClient);
    this.lambda = mockClient(this.lambdaClient);
    this.route53 = mockClient(this.route53Client);
    this.wireRoute53();
    this.wireEcs();
    this.wireTaskDefinitions();
    this.wireEfs();
    this.wireCleaner();
    this.wireElb();
    this.wireCloudWatch();
    this.events.on(PutEventsCommand).callsFake((input: { Entries?: PutEventsRequestEntry[] }) => {
      const entries = input.Entries ?? [];
      this.published.push(...entries);
      return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: `event-${++this.sequence}` })) };
    });
  }

  /** AWS API calls made since the last reset, by operation, from the mocks' call histories. */
  callCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const stub of [this.ecs, this.elb, this.events, this.efs, this.lambda, this.route53]) {
      for (const call of stub.calls()) {
        const name = (call.args[0] as object).constructor.name.replace(/Command$/, '');
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return counts;
  }

  /** AWS API calls made since the last reset, by service, then by operation. */
  callCountsByService(): Record<string, Record<string, number>> {
    const services = {
      ECS: this.ecs,
      ELBv2: this.elb,
      EventBridge: this.events,
      EFS: this.efs,
      Lambda: this.lambda,
      'Route 53': this.route53,
    };
    const counts: Record<string, Record<string, number>> = {};
    for (const [service, stub] of Object.entries(services)) {
      for (const call of stub.calls()) {
        const name = (call.args[0] as object).constructor.name.replace(/Command$/, '');
        counts[service] ??= {};
        counts[service][name] = (counts[service][name] ?? 0) + 1;
      }
    }
    return counts;
  }

  resetHistory(): void {
    for (const stub of [this.ecs, this.elb, this.events, this.efs, this.lambda, this.route53]) stub.resetHistory();
  }

  restore(): void {
    for (const stub of [this.ecs, this.elb, this.events, this.cloudWatch, this.efs, this.lambda, this.route53]) stub.restore();
    for (const client of [
      this.ecsClient,
      this.elbClient,
      this.eventsClient,
      this.cloudWatchClient,
      this.efsClient,
      this.lambdaClient,
      this.route53Client,
    ]) {
      client.destroy();
    }
  }

  /** The access points tagged as the tenant's, as `<id> <root path>`. */
  accessPointsOf(tenantId: string): string[] {
    return [...this.accessPoints.values()]
      .filter(({ description }) => description.Tags?.some((tag) => tag.Key === TENANT_TAG && tag.Value === tenantId))
      .map(({ description }) => `${description.AccessPointId} ${description.RootDirectory?.Path}`);
  }

  /** The ACTIVE task definition revisions tagged as the tenant's, as ARNs. */
  taskDefinitionsOf(tenantId: string): string[] {
    return [...this.taskDefinitionFamilies.values()]
      .flat()
      .filter(
        ({ definition, tags }) => definition.status === 'ACTIVE' && tags.some((tag) => tag.key === TENANT_TAG && tag.value === tenantId),
      )
      .map(({ definition }) => definition.taskDefinitionArn!);
  }

  /** The task definition a task was started from. */
  taskDefinitionOf(taskArn: string): string | undefined {
    return this.tasks.get(taskArn)?.taskDefinition;
  }

  /**
   * Puts an access point and a task definition family of `tenantId` there as another
   * installation (or a person) would: with the tags given, under the names given.
   */
  plantForeign(options: { tenantId: string; installation: string; family: string; token: string }): void {
    const tags = [
      { key: TENANT_TAG, value: options.tenantId },
      { key: INSTALLATION_TAG, value: options.installation },
    ];
    this.createAccessPoint({
      ClientToken: options.token,
      FileSystemId: FILE_SYSTEM_ID,
      RootDirectory: { Path: `/tenants/${options.tenantId}` },
      Tags: tags.map(({ key, value }) => ({ Key: key, Value: value })),
    });
    this.registerTaskDefinition({ family: options.family, containerDefinitions: [{ name: 'app', image: 'other' }], tags });
  }

  /** Tasks not STOPPED and meant to run, by tenant id (from the task group). */
  liveTasks(): Map<string, number> {
    this.settle();
    const live = new Map<string, number>();
    for (const task of this.tasks.values()) {
      if (task.lastStatus === 'STOPPED' || task.desiredStatus !== 'RUNNING') continue;
      const tenant = task.group.replace(/^tenant:/, '');
      live.set(tenant, (live.get(tenant) ?? 0) + 1);
    }
    return live;
  }

  /** When the next task or target moves by itself (epoch ms), for a driver that skips idle time. */
  get nextChange(): number {
    this.settle();
    return this.nextChangeAt;
  }

  /**
   * AWS takes a Spot task back: two minutes' notice (desired STOPPED, stop code
   * SpotInterruption), then it stops as any task does.
   */
  interrupt(taskArn: string, noticeMs = 120_000): void {
    const task = this.tasks.get(taskArn);
    if (!task || task.desiredStatus === 'STOPPED') return;
    const now = this.options.now();
    task.desiredStatus = 'STOPPED';
    task.stopCode = 'SpotInterruption';
    task.stoppedReason = 'Your Spot Task was interrupted.';
    task.nextAt = now + noticeMs;
    this.wakeAt(task.nextAt);
    this.emit(task, now);
  }

  /** A tenant's tasks that are meant to run and not STOPPED (by their task group), with their IPs. */
  /** Each with what its tag says it was started as, when it has one. */
  liveTasksOf(tenantId: string): Array<{ arn: string; lastStatus: string; ip?: string; launchedAs?: LaunchedAs }> {
    this.settle();
    return [...this.tasks.values()]
      .filter((task) => task.group === `tenant:${tenantId}` && task.lastStatus !== 'STOPPED' && task.desiredStatus === 'RUNNING')
      .map(({ arn, lastStatus, ip, tags }) => {
        const launchedAs = launchedAsFromTags(tags);
        return { arn, lastStatus, ...(ip ? { ip } : {}), ...(launchedAs ? { launchedAs } : {}) };
      });
  }

  /** The listener rules tagged as the tenant's, each with the shard whose listener holds it. */
  rulesOf(tenantId: string): Array<{ arn: string; host: string; targetGroupArn: string; shard: number }> {
    return [...this.rules.values()]
      .filter((rule) => tagValue(rule.tags, TENANT_TAG) === tenantId)
      .map(({ arn, host, targetGroupArn, listenerArn }) => ({ arn, host, targetGroupArn, shard: ALL_LISTENER_ARNS.indexOf(listenerArn) }));
  }

  /** Host rules on each modelled shard's listener, in shard order. */
  rulesPerShard(): number[] {
    const counts = ALL_LISTENER_ARNS.map(() => 0);
    for (const rule of this.rules.values()) counts[ALL_LISTENER_ARNS.indexOf(rule.listenerArn)]! += 1;
    return counts;
  }

  /** The target groups tagged as the tenant's, with each target as `<ip>:<health>`. */
  targetGroupsOf(tenantId: string): Array<{ arn: string; targets: string[] }> {
    this.settle();
    const now = this.options.now();
    return [...this.targetGroups.values()]
      .filter((group) => tagValue(group.tags, TENANT_TAG) === tenantId)
      .map((group) => ({
        arn: group.arn,
        targets: [...group.targets.values()].map((target) => `${target.ip}:${this.health(target, now)}`),
      }));
  }

  get ruleCount(): number {
    return this.rules.size;
  }

  get targetGroupCount(): number {
    return this.targetGroups.size;
  }

  /** Moves every task and target along to the clock's present, emitting task state changes. */
  settle(): void {
    const now = this.options.now();
    if (now < this.nextChangeAt) return;
    const { timings } = this.options;
    let next = Number.POSITIVE_INFINITY;
    for (const task of this.tasks.values()) {
      while (task.lastStatus !== 'STOPPED' && task.nextAt <= now) {
        const at = task.nextAt;
        if (task.desiredStatus === 'STOPPED') {
          // STOPPING and DEPROVISIONING each get an event, as ECS sends them.
          if (task.lastStatus !== 'STOPPING' && task.lastStatus !== 'DEPROVISIONING') {
            task.lastStatus = 'STOPPING';
            task.nextAt = at + timings.stoppingMs / 2;
          } else if (task.lastStatus === 'STOPPING') {
            task.lastStatus = 'DEPROVISIONING';
            task.nextAt = at + timings.stoppingMs / 2;
          } else {
            task.lastStatus = 'STOPPED';
          }
        } else if (task.lastStatus === 'PROVISIONING') {
          task.lastStatus = 'PENDING';
          task.ip = `10.${(this.sequence >> 16) & 255}.${(this.sequence >> 8) & 255}.${this.sequence & 255}`;
          this.sequence += 1;
          this.taskByIp.set(task.ip, task);
          task.nextAt = at + timings.pendingMs;
        } else if (task.lastStatus === 'PENDING') {
          task.lastStatus = 'RUNNING';
          task.startedAt = at;
          task.nextAt = Number.POSITIVE_INFINITY;
        } else {
          task.nextAt = Number.POSITIVE_INFINITY;
          continue;
        }
        this.emit(task, at);
      }
      if (task.lastStatus !== 'STOPPED') next = Math.min(next, task.nextAt);
    }
    for (const group of this.targetGroups.values()) {
      for (const [ip, target] of group.targets) {
        if (target.drainingUntil === undefined) continue;
        if (target.drainingUntil <= now) group.targets.delete(ip);
        else next = Math.min(next, target.drainingUntil);
      }
    }
    this.nextChangeAt = next;
  }

  /** Something will move at `at`: settle() must look again then. */
  private wakeAt(at: number): void {
    this.nextChangeAt = Math.min(this.nextChangeAt, at);
  }

  private emit(task: WorldTask, at: number): void {
    task.version += 1;
    this.onTaskChange?.({ detail: { ...this.describeTask(task, 'eni'), version: task.version, clusterArn: CLUSTER }, at });
  }

  /** Throws ThrottlingException when any bucket of the operation is empty. */
  private admit(operation: string): void {
    this.settle();
    for (const { bucket, operations, errorName } of this.buckets) {
      if (operations.has(operation) && !bucket.take()) {
        this.throttled[operation] = (this.throttled[operation] ?? 0) + 1;
        throw awsError(errorName, 'Rate exceeded');
      }
    }
  }

  private describeTask(task: WorldTask, eniType: 'ElasticNetworkInterface' | 'eni', withTags = false): EcsTaskShape & Task {
    return {
      ...(withTags ? { tags: task.tags } : {}),
      taskArn: task.arn,
      clusterArn: CLUSTER,
      group: task.group,
      startedBy: task.startedBy,
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      capacityProviderName: task.capacityProvider,
      launchType: 'FARGATE',
      attachments: [
        {
          id: `attachment-${task.arn.slice(-8)}`,
          type: eniType,
          status: task.ip ? 'ATTACHED' : 'PRECREATED',
          details: [{ name: 'subnetId', value: 'subnet-a' }, ...(task.ip ? [{ name: 'privateIPv4Address', value: task.ip }] : [])],
        },
      ],
      containers: [{ name: 'app', lastStatus: task.lastStatus }],
      ...(task.stopCode ? { stopCode: task.stopCode as Task['stopCode'] } : {}),
      ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
      ...(task.startedAt ? { startedAt: new Date(task.startedAt) } : {}),
    } as EcsTaskShape & Task;
  }

  private wireEcs(): void {
    const { timings } = this.options;
    this.ecs.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => {
      this.admit('RunTask');
      const token = input.clientToken ?? '';
      // ECS answers a repeated token with the original request's result, not the task as it is now.
      const answered = this.answersByToken.get(token);
      if (answered) return structuredClone(answered);
      if (this.fargateBucket && !this.fargateBucket.take()) {
        const key = 'RunTask (Fargate launch rate)';
        this.throttled[key] = (this.throttled[key] ?? 0) + 1;
        throw awsError('ThrottlingException', 'Rate exceeded: Fargate task launch rate');
      }
      const now = this.options.now();
      this.sequence += 1;
      const task: WorldTask = {
        arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/dormouse-tenants/${this.sequence.toString(16).padStart(32, '0')}`,
        taskDefinition: input.taskDefinition ?? '',
        group: input.group ?? '',
        startedBy: input.startedBy ?? '',
        tags: input.tags ?? [],
        clientToken: token,
        capacityProvider: input.capacityProviderStrategy?.[0]?.capacityProvider ?? 'FARGATE',
        lastStatus: 'PROVISIONING',
        desiredStatus: 'RUNNING',
        nextAt: now + timings.provisioningMs,
        version: 0,
      };
      this.tasks.set(task.arn, task);
      this.tasksByStartedBy.set(task.startedBy, [...(this.tasksByStartedBy.get(task.startedBy) ?? []), task]);
      this.wakeAt(task.nextAt);
      this.tasksLaunched += 1;
      this.emit(task, now);
      const answer = { tasks: [this.describeTask(task, 'ElasticNetworkInterface')], failures: [] as [] };
      this.answersByToken.set(token, structuredClone(answer));
      return answer;
    });
    this.ecs.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => {
      this.admit('ListTasks');
      const { cluster: _cluster, nextToken: _nextToken, maxResults: _maxResults, startedBy, ...filters } = input;
      if (startedBy !== undefined && Object.values(filters).some((value) => value !== undefined)) {
        throw awsError('InvalidParameterException', 'startedBy must be the only filter when it is used');
      }
      const candidates = startedBy ? (this.tasksByStartedBy.get(startedBy) ?? []) : [...this.tasks.values()];
      const taskArns = candidates.filter((task) => task.desiredStatus === (input.desiredStatus ?? 'RUNNING')).map((task) => task.arn);
      return { taskArns };
    });
    this.ecs.on(DescribeTasksCommand).callsFake((input: { tasks?: string[]; include?: string[] }) => {
      this.admit('DescribeTasks');
      const found = (input.tasks ?? []).map((arn) => this.tasks.get(arn));
      const withTags = input.include?.includes('TAGS') ?? false;
      return {
        tasks: found
          .filter((task): task is WorldTask => task !== undefined)
          .map((task) => this.describeTask(task, 'ElasticNetworkInterface', withTags)),
        failures: (input.tasks ?? []).filter((_, index) => !found[index]).map((arn) => ({ arn, reason: 'MISSING' })),
      };
    });
    this.ecs.on(StopTaskCommand).callsFake((input: { task?: string; reason?: string }) => {
      this.admit('StopTask');
      const task = this.tasks.get(input.task ?? '');
      // The SDK's own exception class, as the real client deserializes it.
      if (!task) throw new InvalidParameterException({ message: 'The referenced task was not found.', $metadata: { httpStatusCode: 400 } });
      if (task.desiredStatus !== 'STOPPED' && task.lastStatus !== 'STOPPED') {
        task.desiredStatus = 'STOPPED';
        task.stopCode = 'UserInitiated';
        task.stoppedReason = input.reason ?? 'Task stopped by user';
        task.nextAt = this.options.now();
        this.wakeAt(task.nextAt);
        this.emit(task, this.options.now());
        // Its target stops answering health checks at once.
        this.settle();
      }
      return { task: this.describeTask(task, 'ElasticNetworkInterface') };
    });
  }

  private registerTaskDefinition(input: RegisterTaskDefinitionCommandInput): TaskDefinition {
    const family = input.family ?? '';
    const revisions = this.taskDefinitionFamilies.get(family) ?? [];
    this.taskDefinitionFamilies.set(family, revisions);
    const revision = revisions.length + 1;
    const { tags = [], ...fields } = input;
    const definition: TaskDefinition = {
      ...(fields as TaskDefinition),
      taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:${revision}`,
      revision,
      status: 'ACTIVE',
    };
    revisions.push({ definition, tags });
    return definition;
  }

  /** A family (its latest ACTIVE revision), `family:revision` or an ARN, as ECS resolves them. */
  private findTaskDefinition(reference: string): WorldTaskDefinition | undefined {
    const name = reference.startsWith('arn:') ? reference.slice(reference.indexOf('/') + 1) : reference;
    const [family = '', revision] = name.split(':');
    const revisions = this.taskDefinitionFamilies.get(family) ?? [];
    const found = revision
      ? revisions[Number(revision) - 1]
      : [...revisions].reverse().find(({ definition }) => definition.status === 'ACTIVE');
    return found?.definition.status === 'DELETE_IN_PROGRESS' ? undefined : found;
  }

  private wireTaskDefinitions(): void {
    const unableToDescribe = () =>
      new ClientException({ message: 'Unable to describe task definition.', $metadata: { httpStatusCode: 400 } });
    this.registerTaskDefinition({
      family: 'dormouse-tenant',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      cpu: '256',
      memory: '512',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/dormouse-tenant-execution`,
      taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/dormouse-tenant-task`,
      containerDefinitions: [{ name: 'app', image: 'public.ecr.aws/dormouse/whoami:latest', portMappings: [{ containerPort: 80 }] }],
    });
    this.ecs.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition?: string; include?: string[] }) => {
      this.admit('DescribeTaskDefinition');
      const found = this.findTaskDefinition(input.taskDefinition ?? '');
      if (!found) throw unableToDescribe();
      return { taskDefinition: found.definition, ...(input.include?.includes('TAGS') ? { tags: found.tags } : {}) };
    });
    this.ecs.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => {
      this.admit('RegisterTaskDefinition');
      return { taskDefinition: this.registerTaskDefinition(input), tags: input.tags ?? [] };
    });
    this.ecs.on(DeregisterTaskDefinitionCommand).callsFake((input: { taskDefinition?: string }) => {
      this.admit('DeregisterTaskDefinition');
      const found = this.findTaskDefinition(input.taskDefinition ?? '');
      if (!found || !input.taskDefinition?.includes(':')) throw unableToDescribe();
      if (found.definition.status === 'ACTIVE') found.definition.status = 'INACTIVE';
      return { taskDefinition: found.definition };
    });
    this.ecs.on(DeleteTaskDefinitionsCommand).callsFake((input: { taskDefinitions?: string[] }) => {
      this.admit('DeleteTaskDefinitions');
      const deleted: TaskDefinition[] = [];
      const failures: Array<{ arn: string; reason: string }> = [];
      for (const arn of input.taskDefinitions ?? []) {
        const found = this.findTaskDefinition(arn);
        if (found?.definition.status === 'INACTIVE') {
          found.definition.status = 'DELETE_IN_PROGRESS';
          deleted.push(found.definition);
        } else {
          failures.push({ arn, reason: 'The specified task definition is not INACTIVE' });
        }
      }
      return { taskDefinitions: deleted, failures };
    });
    this.ecs
      .on(ListTaskDefinitionsCommand)
      .callsFake((input: { familyPrefix?: string; status?: string; nextToken?: string; maxResults?: number }) => {
        this.admit('ListTaskDefinitions');
        const arns = [...this.taskDefinitionFamilies.entries()]
          .filter(([family]) => family.startsWith(input.familyPrefix ?? ''))
          .flatMap(([, revisions]) => revisions)
          .filter(({ definition }) => definition.status === (input.status ?? 'ACTIVE'))
          .map(({ definition }) => definition.taskDefinitionArn!);
        const { items, next } = page(arns, input.nextToken, input.maxResults);
        return { taskDefinitionArns: items, ...(next ? { nextToken: next } : {}) };
      });
    this.ecs
      .on(ListTaskDefinitionFamiliesCommand)
      .callsFake((input: { familyPrefix?: string; status?: string; nextToken?: string; maxResults?: number }) => {
        this.admit('ListTaskDefinitionFamilies');
        const families = [...this.taskDefinitionFamilies.entries()]
          .filter(([family]) => family.startsWith(input.familyPrefix ?? ''))
          .filter(([, revisions]) => {
            const active = revisions.some(({ definition }) => definition.status === 'ACTIVE');
            return input.status === 'ACTIVE' ? active : input.status === 'INACTIVE' ? !active : true;
          })
          .map(([family]) => family)
          .sort();
        const { items, next } = page(families, input.nextToken, input.maxResults);
        return { families: items, ...(next ? { nextToken: next } : {}) };
      });
  }

  private createAccessPoint(input: CreateAccessPointCommandInput): AccessPointDescription {
    if (input.FileSystemId !== FILE_SYSTEM_ID) {
      throw new FileSystemNotFound({
        message: 'File system not found',
        ErrorCode: 'FileSystemNotFound',
        $metadata: { httpStatusCode: 404 },
      });
    }
    const token = input.ClientToken ?? '';
    const existing = [...this.accessPoints.values()].find((accessPoint) => accessPoint.token === token);
    if (existing) {
      throw new AccessPointAlreadyExists({
        message: 'Access point already exists with the specified client token',
        ErrorCode: 'AccessPointAlreadyExists',
        AccessPointId: existing.description.AccessPointId,
        $metadata: { httpStatusCode: 409 },
      });
    }
    const id = `fsap-${(++this.sequence).toString(16).padStart(17, '0')}`;
    const description: AccessPointDescription = {
      AccessPointId: id,
      AccessPointArn: `arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:access-point/${id}`,
      ClientToken: token,
      FileSystemId: FILE_SYSTEM_ID,
      ...(input.PosixUser ? { PosixUser: input.PosixUser } : {}),
      ...(input.RootDirectory ? { RootDirectory: input.RootDirectory } : {}),
      Tags: input.Tags ?? [],
      LifeCycleState: 'available',
      OwnerId: ACCOUNT,
    };
    this.accessPoints.set(id, { description, token });
    return description;
  }

  private wireEfs(): void {
    const notFound = () =>
      new AccessPointNotFound({ message: 'Access point not found', ErrorCode: 'AccessPointNotFound', $metadata: { httpStatusCode: 404 } });
    this.efs.on(CreateAccessPointCommand).callsFake((input: CreateAccessPointCommandInput) => {
      this.admit('CreateAccessPoint');
      return this.createAccessPoint(input);
    });
    this.efs
      .on(DescribeAccessPointsCommand)
      .callsFake((input: { AccessPointId?: string; FileSystemId?: string; MaxResults?: number; NextToken?: string }) => {
        this.admit('DescribeAccessPoints');
        if (input.AccessPointId) {
          const found = this.accessPoints.get(input.AccessPointId);
          if (!found) throw notFound();
          return { AccessPoints: [found.description] };
        }
        const all = [...this.accessPoints.values()]
          .map(({ description }) => description)
          .filter((description) => description.FileSystemId === input.FileSystemId);
        const { items, next } = page(all, input.NextToken, input.MaxResults);
        return { AccessPoints: items, ...(next ? { NextToken: next } : {}) };
      });
    this.efs.on(DeleteAccessPointCommand).callsFake((input: { AccessPointId?: string }) => {
      this.admit('DeleteAccessPoint');
      if (!this.accessPoints.delete(input.AccessPointId ?? '')) throw notFound();
      return {};
    });
  }

  private wireCleaner(): void {
    this.lambda.on(InvokeCommand).callsFake((input: { FunctionName?: string; Payload?: string | Uint8Array }) => {
      this.admit('Invoke');
      if (input.FunctionName !== CLEANER_FUNCTION) {
        throw new ResourceNotFoundException({ message: `Function not found: ${input.FunctionName}`, $metadata: { httpStatusCode: 404 } });
      }
      const text = typeof input.Payload === 'string' ? input.Payload : new TextDecoder().decode(input.Payload);
      const request = JSON.parse(text) as { action?: string; tenantId: string };
      if (request.action === 'size') {
        this.measured.push(request.tenantId);
        const bytes = this.dataBytes.get(request.tenantId) ?? 0;
        return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify({ bytes })) };
      }
      this.cleaned.push(request.tenantId);
      return { StatusCode: 200 };
    });
  }

  private wireElb(): void {
    const { timings } = this.options;
    const maxRules = this.options.maxRules ?? 50_000;
    const groupByArn = (arn: string | undefined) => this.groupByArn.get(arn ?? '');

    this.elb.on(CreateTargetGroupCommand).callsFake((input: { Name?: string; VpcId?: string; Tags?: Tag[] }) => {
      this.admit('CreateTargetGroup');
      const name = input.Name ?? '';
      let group = this.targetGroups.get(name);
      // An existing group of the same name is returned as it is, tags untouched, as ELBv2 does.
      if (!group) {
        group = {
          arn: `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/${name}/${(++this.sequence).toString(16).padStart(16, '0')}`,
          name,
          tags: input.Tags ?? [],
          targets: new Map(),
        };
        this.targetGroups.set(name, group);
        this.groupByArn.set(group.arn, group);
      }
      return { TargetGroups: [{ TargetGroupArn: group.arn, TargetGroupName: name, VpcId: input.VpcId }] };
    });
    this.elb.on(DescribeTagsCommand).callsFake((input: { ResourceArns?: string[] }) => {
      this.admit('DescribeTags');
      return {
        TagDescriptions: (input.ResourceArns ?? []).map((arn) => ({
          ResourceArn: arn,
          Tags: this.groupByArn.get(arn)?.tags ?? this.rules.get(arn)?.tags ?? [],
        })),
      };
    });
    this.elb.on(ModifyTargetGroupAttributesCommand).callsFake(() => {
      this.admit('ModifyTargetGroupAttributes');
      return { Attributes: [] };
    });
    this.elb.on(DescribeTargetGroupsCommand).callsFake((input: { Names?: string[]; PageSize?: number; Marker?: string }) => {
      this.admit('DescribeTargetGroups');
      if (!input.Names) {
        // Without names: every group of the account, page by page.
        const all = [...this.targetGroups.values()].map((group) => ({
          TargetGroupArn: group.arn,
          TargetGroupName: group.name,
          VpcId: VPC_ID,
        }));
        const start = Number(input.Marker ?? 0);
        const end = start + (input.PageSize ?? 400);
        return { TargetGroups: all.slice(start, end), ...(end < all.length ? { NextMarker: String(end) } : {}) };
      }
      const groups = (input.Names ?? []).map((name) => this.targetGroups.get(name));
      if (groups.some((group) => !group)) throw awsError('TargetGroupNotFoundException', 'One or more target groups not found');
      return { TargetGroups: groups.map((group) => ({ TargetGroupArn: group!.arn, TargetGroupName: group!.name, VpcId: VPC_ID })) };
    });
    this.elb.on(DescribeTargetHealthCommand).callsFake((input: { TargetGroupArn?: string }) => {
      this.admit('DescribeTargetHealth');
      const group = groupByArn(input.TargetGroupArn);
      if (!group) throw awsError('TargetGroupNotFoundException', 'Target group not found');
      const now = this.options.now();
      return {
        TargetHealthDescriptions: [...group.targets.values()].map((target) => ({
          Target: { Id: target.ip, Port: 80 },
          TargetHealth: { State: this.health(target, now) },
        })),
      };
    });
    this.elb.on(RegisterTargetsCommand).callsFake((input: { TargetGroupArn?: string; Targets?: Array<{ Id?: string }> }) => {
      this.admit('RegisterTargets');
      const group = groupByArn(input.TargetGroupArn);
      if (!group) throw awsError('TargetGroupNotFoundException', 'Target group not found');
      for (const { Id } of input.Targets ?? []) {
        const existing = group.targets.get(Id ?? '');
        if (!existing || existing.drainingUntil !== undefined)
          group.targets.set(Id ?? '', { ip: Id ?? '', registeredAt: this.options.now() });
      }
      return {};
    });
    this.elb.on(DeregisterTargetsCommand).callsFake((input: { TargetGroupArn?: string; Targets?: Array<{ Id?: string }> }) => {
      this.admit('DeregisterTargets');
      const group = groupByArn(input.TargetGroupArn);
      if (!group) throw awsError('TargetGroupNotFoundException', 'Target group not found');
      for (const { Id } of input.Targets ?? []) {
        const target = group.targets.get(Id ?? '');
        if (target) {
          target.drainingUntil = this.options.now() + timings.drainingMs;
          this.wakeAt(target.drainingUntil);
        }
      }
      return {};
    });
    this.elb.on(DeleteTargetGroupCommand).callsFake((input: { TargetGroupArn?: string }) => {
      this.admit('DeleteTargetGroup');
      const group = groupByArn(input.TargetGroupArn);
      if (!group) return {};
      if ([...this.rules.values()].some((rule) => rule.targetGroupArn === group.arn)) {
        throw awsError('ResourceInUseException', `Target group '${group.arn}' is currently in use by a listener or a rule`);
      }
      this.targetGroups.delete(group.name);
      this.groupByArn.delete(group.arn);
      return {};
    });
    this.elb
      .on(DescribeRulesCommand)
      .callsFake((input: { ListenerArn?: string; RuleArns?: string[]; PageSize?: number; Marker?: string }) => {
        this.admit('DescribeRules');
        if (input.RuleArns) {
          // By ARN: those rules or RuleNotFoundException, as ELBv2 answers.
          const found = input.RuleArns.map((arn) => this.rules.get(arn));
          if (found.some((rule) => !rule)) throw awsError('RuleNotFoundException', 'One or more rules not found');
          return { Rules: found.map((rule) => toRule(rule!)) };
        }
        const listenerArn = input.ListenerArn ?? '';
        if (!ALL_LISTENER_ARNS.includes(listenerArn)) throw awsError('ListenerNotFoundException', 'One or more listeners not found');
        let all = this.sortedRules.get(listenerArn);
        if (!all) {
          all = [
            {
              RuleArn: `${listenerArn.replace(':listener/', ':listener-rule/')}/default`,
              Priority: 'default',
              IsDefault: true,
              Conditions: [],
              Actions: [{ Type: 'forward' }],
            },
            ...[...this.rules.values()]
              .filter((rule) => rule.listenerArn === listenerArn)
              .sort((a, b) => a.priority - b.priority)
              .map(toRule),
          ];
          this.sortedRules.set(listenerArn, all);
        }
        const start = Number(input.Marker ?? 0);
        const size = input.PageSize ?? 400;
        const end = start + size;
        return { Rules: all.slice(start, end), ...(end < all.length ? { NextMarker: String(end) } : {}) };
      });
    this.elb
      .on(CreateRuleCommand)
      .callsFake(
        (input: {
          ListenerArn?: string;
          Priority?: number;
          Conditions?: Array<{ HostHeaderConfig?: { Values?: string[] } }>;
          Actions?: Array<{ TargetGroupArn?: string }>;
          Tags?: Tag[];
        }) => {
          this.admit('CreateRule');
          const priority = input.Priority ?? 0;
          const listenerArn = input.ListenerArn ?? '';
          if (!ALL_LISTENER_ARNS.includes(listenerArn)) throw awsError('ListenerNotFoundException', 'One or more listeners not found');
          const taken = this.priorities.get(listenerArn) ?? new Set<number>();
          if (taken.has(priority)) throw awsError('PriorityInUseException', `Priority '${priority}' is currently in use`);
          if (taken.size >= maxRules)
            throw awsError('TooManyRulesException', 'You have reached the maximum number of rules per load balancer');
          const targetGroupArn = input.Actions?.[0]?.TargetGroupArn ?? '';
          // A target group belongs to at most one load balancer.
          const elsewhere = [...this.rules.values()].some(
            (other) => other.targetGroupArn === targetGroupArn && loadBalancerOf(other.listenerArn) !== loadBalancerOf(listenerArn),
          );
          if (elsewhere)
            throw awsError(
              'TargetGroupAssociationLimitException',
              `Target group '${targetGroupArn}' is associated with another load balancer`,
            );
          const rule: WorldRule = {
            arn: `${listenerArn.replace(':listener/', ':listener-rule/')}/${(++this.sequence).toString(16).padStart(16, '0')}`,
            listenerArn,
            priority,
            host: input.Conditions?.[0]?.HostHeaderConfig?.Values?.[0] ?? '',
            targetGroupArn,
            tags: input.Tags ?? [],
          };
          this.rules.set(rule.arn, rule);
          this.priorities.set(listenerArn, taken.add(priority));
          this.sortedRules.delete(listenerArn);
          return { Rules: [{ RuleArn: rule.arn, Priority: String(priority) }] };
        },
      );
    this.elb.on(DeleteRuleCommand).callsFake((input: { RuleArn?: string }) => {
      this.admit('DeleteRule');
      const rule = this.rules.get(input.RuleArn ?? '');
      if (!rule) throw awsError('RuleNotFoundException', 'One or more rules not found');
      this.rules.delete(rule.arn);
      this.priorities.get(rule.listenerArn)?.delete(rule.priority);
      this.sortedRules.delete(rule.listenerArn);
      return {};
    });
  }

  /** The hosted zone's record sets of `name` (fully qualified, with the final dot), by type. */
  recordSetsNamed(name: string): ResourceRecordSet[] {
    return [...this.recordSets.values()].filter((set) => set.Name === name);
  }

  /** Every record set in the hosted zone. */
  allRecordSets(): ResourceRecordSet[] {
    return [...this.recordSets.values()];
  }

  /** A record set made outside Dormouse (by hand, or by another installation sharing the zone). */
  plantRecordSet(set: ResourceRecordSet): void {
    this.recordSets.set(`${set.Name} ${set.Type}`, structuredClone(set));
  }

  private wireRoute53(): void {
    const sorted = () => [...this.recordSets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.route53
      .on(ListResourceRecordSetsCommand)
      .callsFake((input: { HostedZoneId?: string; StartRecordName?: string; StartRecordType?: string; MaxItems?: number }) => {
        this.admit('ListResourceRecordSets');
        if (input.HostedZoneId !== HOSTED_ZONE_ID)
          throw awsError('NoSuchHostedZone', `No hosted zone found with ID: ${input.HostedZoneId}`);
        const from = `${input.StartRecordName ?? ''} ${input.StartRecordType ?? ''}`;
        const rest = sorted().filter(([key]) => key >= from);
        const page = rest.slice(0, input.MaxItems ?? 300).map(([, set]) => structuredClone(set));
        const next = rest[input.MaxItems ?? 300]?.[1];
        return {
          ResourceRecordSets: page,
          IsTruncated: next !== undefined,
          MaxItems: input.MaxItems ?? 300,
          ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type } : {}),
        };
      });
    this.route53.on(ChangeResourceRecordSetsCommand).callsFake((input: { HostedZoneId?: string; ChangeBatch?: { Changes?: Change[] } }) => {
      this.admit('ChangeResourceRecordSets');
      if (input.HostedZoneId !== HOSTED_ZONE_ID) throw awsError('NoSuchHostedZone', `No hosted zone found with ID: ${input.HostedZoneId}`);
      const changes = input.ChangeBatch?.Changes ?? [];
      const invalid = (message: string) => awsError('InvalidChangeBatch', message);
      if (changes.length === 0 || changes.length > 1000) throw invalid('A request holds 1 to 1000 changes');
      const keys = changes.map((change) => `${change.ResourceRecordSet?.Name} ${change.ResourceRecordSet?.Type}`);
      if (new Set(keys).size !== keys.length) throw invalid('Duplicate Resource Record in a change batch');
      // Route 53 checks every change and names each refused one in `messages`, joined in `message`.
      const problems = changes.flatMap((change) => {
        const current = this.recordSets.get(`${change.ResourceRecordSet?.Name} ${change.ResourceRecordSet?.Type}`);
        const record = `resource record set [name='${change.ResourceRecordSet?.Name}', type='${change.ResourceRecordSet?.Type}']`;
        if (change.Action === 'CREATE' && current) return [`Tried to create ${record} but it already exists`];
        if (change.Action === 'DELETE' && !current) return [`Tried to delete ${record} but it was not found`];
        if (change.Action === 'DELETE' && JSON.stringify(current) !== JSON.stringify(change.ResourceRecordSet)) {
          return [`Tried to delete ${record} but the values provided do not match the current values`];
        }
        return [];
      });
      if (problems.length > 0) throw Object.assign(invalid(`[${problems.join(', ')}]`), { messages: problems });
      // Applied whole, once every change is valid.
      changes.forEach((change, i) => {
        if (change.Action === 'DELETE') this.recordSets.delete(keys[i]!);
        else this.recordSets.set(keys[i]!, route53Listed(change.ResourceRecordSet!));
      });
      return { ChangeInfo: { Id: `/change/C${++this.sequence}`, Status: 'PENDING', SubmittedAt: new Date(this.options.now()) } };
    });
  }

  /**
   * Requests a load balancer (shard 0's unless said) forwarded to a target group now, as its
   * RequestCount metric shows them: a series per load balancer and target group.
   */
  recordRequests(targetGroupArn: string, count: number, loadBalancer = LOAD_BALANCER_FULL_NAME): void {
    const dimension = `${loadBalancer} ${targetGroupArn.slice(targetGroupArn.indexOf('targetgroup/'))}`;
    this.requestCounts.set(dimension, [...(this.requestCounts.get(dimension) ?? []), { at: this.options.now(), count }]);
  }

  /**
   * GetMetricData for RequestCount sums: one value per query (the ALB publishes nothing for a
   * minute without requests, so a quiet target group has no values). Paging is not modelled.
   */
  private wireCloudWatch(): void {
    this.cloudWatch
      .on(GetMetricDataCommand)
      .callsFake((input: { MetricDataQueries?: MetricDataQuery[]; StartTime?: Date; EndTime?: Date }) => {
        this.admit('GetMetricData');
        const start = input.StartTime?.getTime() ?? 0;
        const end = input.EndTime?.getTime() ?? Number.POSITIVE_INFINITY;
        return {
          MetricDataResults: (input.MetricDataQueries ?? []).map((query) => {
            const value = (name: string) => query.MetricStat?.Metric?.Dimensions?.find((candidate) => candidate.Name === name)?.Value ?? '';
            const dimension = `${value('LoadBalancer')} ${value('TargetGroup')}`;
            const points = (this.requestCounts.get(dimension) ?? []).filter(({ at }) => at >= start && at < end);
            const total = points.reduce((sum, { count }) => sum + count, 0);
            return { Id: query.Id, StatusCode: 'Complete', Values: points.length > 0 ? [total] : [] };
          }),
        };
      });
  }

  private health(target: WorldTarget, now: number): string {
    if (target.drainingUntil !== undefined) return 'draining';
    const task = this.taskByIp.get(target.ip);
    if (!task || task.lastStatus !== 'RUNNING' || task.desiredStatus !== 'RUNNING') {
      return now - target.registeredAt < this.options.timings.healthyAfterMs ? 'initial' : 'unhealthy';
    }
    return now - Math.max(target.registeredAt, task.startedAt ?? 0) < this.options.timings.healthyAfterMs ? 'initial' : 'healthy';
  }
}
