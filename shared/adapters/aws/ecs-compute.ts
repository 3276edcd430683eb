import {
  DescribeTasksCommand,
  ECSClient,
  InvalidParameterException,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import type { Failure, ListTasksCommandInput, Task } from '@aws-sdk/client-ecs';
import { capacityProviderNamed } from '../../domain/tenant.js';
import type { Compute, ObservedTask, RunTaskRequest, RunTaskResult, TaskLastStatus } from '../../ports/compute.js';
import { launchedAsFromTags, launchedAsTag, ownerFromTags, ownerTags, startedBy, taskGroup, tenantFromTaskGroup } from '../common/names.js';

/** RunTask refuses longer tokens; failing here names the cause instead of a generic 400. */
const MAX_CLIENT_TOKEN_LENGTH = 64;
/** DescribeTasks takes at most 100 tasks per call. */
const DESCRIBE_BATCH = 100;
/** StopTask keeps at most 255 characters of the reason. */
const MAX_STOP_REASON_LENGTH = 255;

export interface EcsComputeOptions {
  client?: ECSClient;
  /** In every task's `startedBy` and on every task as INSTALLATION_TAG. */
  installation: string;
  cluster: string;
  taskDefinition: string;
  /** Task definitions of the plans with an image of their own, by plan name; other plans run `taskDefinition`. */
  planTaskDefinitions?: Readonly<Record<string, string>>;
  /** The container that receives TENANT_ID and TENANT_HOST. */
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  /** @default false — tasks sit in private subnets behind the ALB. */
  assignPublicIp?: boolean;
}

/** A caller passed a clientToken that ECS would refuse. */
export class ClientTokenError extends Error {
  readonly clientToken: string;

  constructor(clientToken: string) {
    super(`RunTask clientToken must be 1 to ${MAX_CLIENT_TOKEN_LENGTH} ASCII characters; got ${clientToken.length}: "${clientToken}"`);
    this.name = 'ClientTokenError';
    this.clientToken = clientToken;
  }
}

/** ECS could not describe tasks for a reason other than their having aged out. */
export class DescribeTasksError extends Error {
  readonly failures: Failure[];

  constructor(failures: Failure[]) {
    super(`ECS could not describe tasks: ${failures.map((f) => `${f.arn ?? '?'}: ${f.reason ?? 'unknown reason'}`).join('; ')}`);
    this.name = 'DescribeTasksError';
    this.failures = failures;
  }
}

/**
 * The fields of an ECS task the control plane reads. A DescribeTasks/RunTask `Task` fits it, and
 * so does the `detail` of an EventBridge "ECS Task State Change" event, whose dates are ISO
 * strings and whose ENI attachment has type `eni` rather than `ElasticNetworkInterface`.
 */
export interface EcsTaskShape {
  taskArn?: string | undefined;
  group?: string | undefined;
  lastStatus?: string | undefined;
  desiredStatus?: string | undefined;
  capacityProviderName?: string | undefined;
  attachments?:
    { type?: string | undefined; details?: { name?: string | undefined; value?: string | undefined }[] | undefined }[] | undefined;
  stopCode?: string | undefined;
  stoppedReason?: string | undefined;
  containers?: { reason?: string | undefined; exitCode?: number | null | undefined }[] | undefined;
  startedAt?: Date | string | undefined;
  stoppedAt?: Date | string | undefined;
  /** Task-level size, overrides applied: strings of CPU units and MiB, in DescribeTasks and task events alike. */
  cpu?: string | undefined;
  memory?: string | undefined;
  /** DescribeTasks has them with `include: ['TAGS']`; task state change events do not. */
  tags?: { key?: string | undefined; value?: string | undefined }[] | undefined;
}

const ENI_ATTACHMENT_TYPES = new Set(['ElasticNetworkInterface', 'eni']);

/**
 * Maps an ECS task to what the control plane observes, or undefined when the task is not a
 * tenant's (its group does not name one) or carries no ARN.
 */
export function toObservedTask(task: EcsTaskShape): ObservedTask | undefined {
  const tenantId = tenantFromTaskGroup(task.group);
  if (tenantId === undefined || !task.taskArn) return undefined;
  const ip = task.attachments
    ?.find((attachment) => attachment.type !== undefined && ENI_ATTACHMENT_TYPES.has(attachment.type))
    ?.details?.find((detail) => detail.name === 'privateIPv4Address')?.value;
  const container = task.containers?.[0];
  const startedAt = task.startedAt instanceof Date ? task.startedAt.toISOString() : task.startedAt;
  const stoppedAt = task.stoppedAt instanceof Date ? task.stoppedAt.toISOString() : task.stoppedAt;
  const capacityProvider = capacityProviderNamed(task.capacityProviderName);
  const launchedAs = launchedAsFromTags(task.tags);
  const size = { cpu: Number(task.cpu), memory: Number(task.memory) };
  return {
    arn: task.taskArn,
    tenantId,
    // RunTask answers before ECS has set a status on some paths; the first status is PROVISIONING.
    lastStatus: (task.lastStatus ?? 'PROVISIONING') as TaskLastStatus,
    desiredStatus: task.desiredStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
    capacityProvider,
    ...(ip ? { ip } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
    ...(container?.reason ? { containerReason: container.reason } : {}),
    ...(typeof container?.exitCode === 'number' ? { exitCode: container.exitCode } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(stoppedAt ? { stoppedAt } : {}),
    ...(launchedAs ? { launchedAs } : {}),
    ...(size.cpu > 0 && size.memory > 0 ? { size } : {}),
  };
}

export class EcsCompute implements Compute {
  private readonly client: ECSClient;
  private readonly installation: string;
  private readonly cluster: string;
  private readonly taskDefinition: string;
  private readonly planTaskDefinitions: Readonly<Record<string, string>>;
  private readonly containerName: string;
  private readonly subnets: string[];
  private readonly securityGroups: string[];
  private readonly assignPublicIp: boolean;

  constructor({
    client = new ECSClient({}),
    installation,
    cluster,
    taskDefinition,
    planTaskDefinitions = {},
    containerName,
    subnets,
    securityGroups,
    assignPublicIp = false,
  }: EcsComputeOptions) {
    this.client = client;
    this.installation = installation;
    this.cluster = cluster;
    this.taskDefinition = taskDefinition;
    this.planTaskDefinitions = planTaskDefinitions;
    this.containerName = containerName;
    this.subnets = subnets;
    this.securityGroups = securityGroups;
    this.assignPublicIp = assignPublicIp;
  }

  /**
   * Throttling is retried by the client's own retry strategy (jittered backoff); what is left
   * after that propagates so the reconciler can requeue.
   */
  async runTask(request: RunTaskRequest): Promise<RunTaskResult> {
    const { tenantId, host, clientToken, capacityProvider, plan, volume } = request;
    if (clientToken.length === 0 || clientToken.length > MAX_CLIENT_TOKEN_LENGTH || !/^[\x20-\x7e]+$/.test(clientToken)) {
      throw new ClientTokenError(clientToken);
    }
    const tags = [...ownerTags(this.installation, tenantId), launchedAsTag(request.launchedAs)];
    const { tasks = [], failures = [] } = await this.client.send(
      new RunTaskCommand({
        cluster: this.cluster,
        // With persistent data, `volume` is the tenant's own task definition (EfsStorage.ensure),
        // which adds the tenant's mount to its plan's.
        taskDefinition: volume ?? this.planTaskDefinitions[plan] ?? this.taskDefinition,
        count: 1,
        // No launchType: ECS rejects a request that has both it and a capacity provider strategy.
        capacityProviderStrategy: [{ capacityProvider, weight: 1 }],
        clientToken,
        startedBy: startedBy(this.installation, tenantId),
        group: taskGroup(tenantId),
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: this.subnets,
            securityGroups: this.securityGroups,
            assignPublicIp: this.assignPublicIp ? 'ENABLED' : 'DISABLED',
          },
        },
        overrides: {
          // Task-level size: one task definition serves every plan's size (strings, as ECS takes them).
          cpu: String(request.cpu),
          memory: String(request.memory),
          containerOverrides: [{ name: this.containerName, environment: containerEnvironment(request) }],
        },
        tags,
        enableECSManagedTags: true,
        propagateTags: 'TASK_DEFINITION',
      }),
    );
    const task = tasks[0];
    if (task) {
      // ECS echoes the group it was given; falling back to it keeps the mapping total.
      const observed = toObservedTask({ ...task, group: task.group ?? taskGroup(tenantId) });
      // What it was started as is what was asked, whether or not the answer echoes the tags.
      if (observed) return { started: true, task: { ...observed, launchedAs: observed.launchedAs ?? request.launchedAs } };
    }
    if (failures.length === 0) {
      throw new Error(`RunTask for tenant "${tenantId}" returned neither a task nor a failure`);
    }
    return {
      started: false,
      capacityUnavailable: failures.some(isCapacityFailure),
      reason: `ECS did not start a ${capacityProvider} task for tenant "${tenantId}": ${failures.map(describeFailure).join('; ')}.`,
    };
  }

  /**
   * ListTasks with `startedBy` alone, as the ECS API reference requires ("it must be the only
   * filter that you use"); it then lists the tasks whose desired status is RUNNING. A task told
   * to stop (desired STOPPED, still running) is seen through its recorded ARN, which DescribeTasks
   * answers whatever the task's status. Listed tasks count only if both tags name this tenant and
   * installation; the recorded ones are Dormouse's own by construction.
   */
  async tenantTasks(tenantId: string, knownArns: string[]): Promise<ObservedTask[]> {
    const listed = await this.listTaskArns({ startedBy: startedBy(this.installation, tenantId) });
    const known = new Set(knownArns);
    const arns = [...new Set([...listed, ...knownArns])];
    const group = taskGroup(tenantId);
    return (await this.describe(arns))
      .filter(
        (task) => task.group === group && (known.has(task.taskArn ?? '') || (task.lastStatus !== 'STOPPED' && this.owns(task, tenantId))),
      )
      .flatMap((task) => toObservedTask(task) ?? []);
  }

  /**
   * Every tenant task of this installation the cluster runs (desired RUNNING), for drift repair:
   * tasks with no tenant record are orphans. A task without this installation's tag is never
   * offered for removal, whatever its group says.
   */
  async allTenantTasks(): Promise<ObservedTask[]> {
    const arns = await this.listTaskArns({ desiredStatus: 'RUNNING' });
    return (await this.describe(arns)).flatMap((task) => {
      const observed = toObservedTask(task);
      return observed && this.owns(task, observed.tenantId) ? [observed] : [];
    });
  }

  private owns(task: Task, tenantId: string): boolean {
    return ownedBy(task, this.installation, tenantId);
  }

  /** Stopping a task that is already stopped or gone is success: the caller wanted it gone. */
  async stopTask(arn: string, reason: string): Promise<void> {
    try {
      await this.client.send(new StopTaskCommand({ cluster: this.cluster, task: arn, reason: reason.slice(0, MAX_STOP_REASON_LENGTH) }));
    } catch (error) {
      if (error instanceof InvalidParameterException && /not (be )?found|does not exist/i.test(error.message)) return;
      throw error;
    }
  }

  /**
   * Pages by hand rather than with `paginateListTasks`: the SDK paginator reuses and mutates
   * one input object for every page, so the requests sent cannot be told apart afterwards.
   */
  private async listTaskArns(
    filter: Pick<ListTasksCommandInput, 'startedBy'> | Pick<ListTasksCommandInput, 'desiredStatus'>,
  ): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(new ListTasksCommand({ cluster: this.cluster, ...filter, ...(nextToken ? { nextToken } : {}) }));
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return arns;
  }

  private async describe(arns: string[]): Promise<Task[]> {
    const described: Task[] = [];
    for (let start = 0; start < arns.length; start += DESCRIBE_BATCH) {
      const { tasks = [], failures = [] } = await this.client.send(
        // The tags come in the same call: checking ownership costs no extra request.
        new DescribeTasksCommand({ cluster: this.cluster, tasks: arns.slice(start, start + DESCRIBE_BATCH), include: ['TAGS'] }),
      );
      // MISSING means ECS no longer remembers the task (stopped tasks age out after about an hour).
      const unexpected = failures.filter((failure) => failure.reason !== 'MISSING');
      if (unexpected.length > 0) throw new DescribeTasksError(unexpected);
      described.push(...tasks);
    }
    return described;
  }
}

/**
 * The plan's and tenant's environment, then the platform's own variables: ECS does not say which
 * of two entries of one name wins, so the platform's replace any of the same name.
 */
function containerEnvironment({ environment, tenantId, host }: RunTaskRequest): { name: string; value: string }[] {
  const merged = { ...environment, TENANT_ID: tenantId, TENANT_HOST: host };
  return Object.entries(merged).map(([name, value]) => ({ name, value }));
}

/**
 * Whether a task's tags name this tenant of this installation.
 */
function ownedBy(task: Task, installation: string, tenantId: string): boolean {
  const owner = ownerFromTags(task.tags);
  return owner.tenantId === tenantId && owner.installation === installation;
}

/**
 * Fargate reports "Capacity is unavailable at this time. Please try again later or in a different
 * availability zone"; EC2 capacity providers report `RESOURCE:<kind>`. Both mean "not now, not
 * here" rather than "this request is wrong".
 */
function isCapacityFailure(failure: Failure): boolean {
  const reason = failure.reason ?? '';
  return /capacity/i.test(reason) || reason.startsWith('RESOURCE:');
}

function describeFailure(failure: Failure): string {
  const reason = (failure.reason ?? 'unknown reason').replace(/\.$/, '');
  const detail = failure.detail?.replace(/\.$/, '');
  return detail ? `${reason} (${detail})` : reason;
}
