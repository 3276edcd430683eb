import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
  type IConnectable,
  type IVpc,
} from 'aws-cdk-lib/aws-ec2';
import { Repository, type IRepository } from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { INSTALLATION_TAG, TENANT_CONTAINER, TENANT_LOG_STREAM_PREFIX, taskFamilyPrefix } from '../../shared/adapters/common/names.js';
import { acknowledge, acknowledgeWildcardResources } from '../nag.js';
import { PROJECT_ROOT } from './function.js';
import { addSettings } from '../settings.js';
import type { TaskArchitecture } from '../config.js';

/** The demo application (`demo/whoami.mjs`) and its Dockerfile: the default tenant image. */
export const DEMO_APP_DIRECTORY = `${PROJECT_ROOT}demo`;

/** The container the reconciler overrides with TENANT_ID and TENANT_HOST. */
export const TENANT_CONTAINER_NAME = TENANT_CONTAINER;

export type TenantNetwork =
  | {
      /** A new VPC over these zones, with public subnets for the ALB and private ones for tasks. */
      readonly availabilityZones: string[];
      readonly natGateways: number;
    }
  | {
      /** An existing VPC, described rather than looked up, so that synth stays offline. */
      readonly vpcId: string;
      readonly availabilityZones: string[];
      readonly publicSubnetIds: string[];
      /** Need a route to the internet (NAT) or VPC endpoints for the image registry and logs. */
      readonly privateSubnetIds: string[];
    };

export interface TenantAppProps {
  /**
   * Container image reference; ECR images get pull permission.
   * @default the demo application, built from `demo/` at deploy time as an image asset (on an
   * ECR Public base image) and pulled from the CDK bootstrap repository
   */
  readonly image?: string;
  readonly containerPort: number;
  /** Fargate CPU units. */
  readonly cpu: number;
  /** MiB. */
  readonly memory: number;
  /** Checked by the tenant's ALB target group (the default image has no shell for a container check). */
  readonly healthCheckPath: string;
  /** CPU architecture of every tenant task definition, and of the demo image built at deploy. */
  readonly architecture: TaskArchitecture;
  /** Non-secret environment of every tenant container. */
  readonly environment: Record<string, string>;
  /** Where tenants keep persistent data; the demo app is told it as DATA_DIR. @default none: stateless */
  readonly dataPath?: string;
}

/** A plan that runs an image of its own, at its own size. */
export interface PlanImage {
  readonly plan: string;
  readonly image: string;
  readonly cpu: number;
  readonly memory: number;
}

export interface TenantClusterProps {
  readonly network: TenantNetwork;
  readonly app: TenantAppProps;
  readonly logRetention: RetentionDays;
  /**
   * Container Insights with enhanced observability: per-task metrics (network traffic among
   * them), which the sweep reads to keep a tenant with only WebSocket traffic awake.
   * @default false: Container Insights' cluster-level metrics only
   */
  readonly taskMetrics?: boolean;
  /** Plans with an image of their own: each gets a task definition of its own. @default none */
  readonly planImages?: readonly PlanImage[];
}

interface TenantTaskDefinitionProps {
  readonly family: string;
  /** @default the demo app */
  readonly image: string | undefined;
  readonly cpu: number;
  readonly memory: number;
}

/** The task definition family of a plan with its own image: the tenant family and the plan's name. */
export function planTaskFamily(stackName: string, plan: string): string {
  return `${stackName}-tenant-${plan}`;
}

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/;

/**
 * Where tenants run: the VPC, an ECS cluster with Fargate and Fargate Spot, the tenant task
 * definition, and the security group of tenant tasks, which lets in only the load balancer,
 * only on the app port. Tasks share that group but it has no rule admitting itself, so one
 * tenant cannot reach another.
 */
export class TenantCluster extends Construct {
  readonly vpc: IVpc;
  readonly cluster: Cluster;
  /** The installation's tenant task definition: every plan without an image of its own runs it. */
  readonly taskDefinition: FargateTaskDefinition;
  /** By plan name, the task definitions of plans with an image of their own. */
  readonly planTaskDefinitions = new Map<string, FargateTaskDefinition>();
  readonly logGroup: LogGroup;
  readonly tenantSecurityGroup: SecurityGroup;
  readonly taskRole: Role;
  readonly executionRole: Role;
  readonly app: TenantAppProps;
  private readonly repositories = new Map<string, IRepository>();

  constructor(scope: Construct, id: string, props: TenantClusterProps) {
    super(scope, id);
    this.app = props.app;
    this.vpc = this.network(props.network, props.logRetention);

    this.cluster = new Cluster(this, 'Cluster', {
      vpc: this.vpc,
      enableFargateCapacityProviders: true,
      containerInsightsV2: props.taskMetrics ? ContainerInsights.ENHANCED : ContainerInsights.ENABLED,
    });
    // Only for tasks started by hand: the reconciler always names its capacity provider.
    this.cluster.addDefaultCapacityProviderStrategy([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);

    this.tenantSecurityGroup = new SecurityGroup(this, 'TenantTasks', {
      vpc: this.vpc,
      description: 'Dormouse tenant tasks: in from the load balancer only, on the app port',
      // Tenant apps may call anything on the internet, and must reach the image registry.
      allowAllOutbound: true,
    });

    this.taskRole = new Role(this, 'TaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Dormouse tenant tasks: no AWS API permissions (with persistent data, mounting it through an access point)',
    });
    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Dormouse tenant tasks: pull the image, write logs',
    });
    this.logGroup = new LogGroup(this, 'TenantLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.taskDefinition = this.tenantTaskDefinition('TenantTask', {
      family: `${Stack.of(this).stackName}-tenant`,
      image: props.app.image,
      cpu: props.app.cpu,
      memory: props.app.memory,
    });
    for (const plan of props.planImages ?? []) {
      this.planTaskDefinitions.set(
        plan.plan,
        this.tenantTaskDefinition(`PlanTask-${plan.plan}`, {
          family: planTaskFamily(Stack.of(this).stackName, plan.plan),
          image: plan.image,
          cpu: plan.cpu,
          memory: plan.memory,
        }),
      );
    }
  }

  /**
   * A tenant task definition: one container, `app`, from `image` (the demo app when none), on the
   * installation's architecture, with the tenant roles, the tenant log group and the
   * installation's port and environment. The installation's and each plan's with an image differ
   * only in image and size.
   */
  private tenantTaskDefinition(id: string, { family, image, cpu, memory }: TenantTaskDefinitionProps): FargateTaskDefinition {
    const app = this.app;
    const taskDefinition = new FargateTaskDefinition(this, id, {
      family,
      cpu,
      memoryLimitMiB: memory,
      // Fargate and Fargate Spot run both on Linux (Spot arm64 on platform 1.4.0, which LATEST is).
      runtimePlatform: {
        cpuArchitecture: app.architecture === 'arm64' ? CpuArchitecture.ARM64 : CpuArchitecture.X86_64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
      executionRole: this.executionRole,
    });
    // The demo listens on PORT: told the container port, it follows a changed containerPort; and
    // it counts visits under DATA_DIR, where the tenant's own directory is mounted.
    const demoEnvironment = { PORT: String(app.containerPort), ...(app.dataPath ? { DATA_DIR: app.dataPath } : {}) };
    const environment = image === undefined ? { ...demoEnvironment, ...app.environment } : app.environment;
    const hasEnvironment = Object.keys(environment).length > 0;
    taskDefinition.addContainer(TENANT_CONTAINER_NAME, {
      image: image === undefined ? this.demoImage() : this.image(image),
      essential: true,
      portMappings: [{ containerPort: app.containerPort, name: 'app' }],
      ...(hasEnvironment ? { environment } : {}),
      // The API reads a tenant's output by these stream names (tenantLogStream).
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: TENANT_LOG_STREAM_PREFIX }),
    });
    if (hasEnvironment) {
      acknowledge(
        taskDefinition,
        'AwsSolutions-ECS2',
        'dormouse.environment holds non-secret settings by contract (documented), and the demo image gets only its PORT; secrets belong in Secrets Manager.',
      );
    }
    return taskDefinition;
  }

  /**
   * Lets `fn` read tenant tasks' output from the tenant log group, and no other group, and tells
   * it the group. Which streams it reads (a tenant's own tasks) is the API's business.
   */
  bindLogReader(fn: LambdaFunction): void {
    const statement = new PolicyStatement({
      sid: 'ReadTenantLogs',
      actions: ['logs:FilterLogEvents'],
      resources: [this.logGroup.logGroupArn],
    });
    fn.addToRolePolicy(statement);
    acknowledgeWildcardResources(
      fn,
      statement,
      "The tenant log group's ARN ends in :* as CloudWatch Logs names a group's streams; only that one group is readable.",
    );
    addSettings(fn, { DORMOUSE_TENANT_LOG_GROUP: this.logGroup.logGroupName });
  }

  /** Opens the app port of tenant tasks to `peer` (the load balancer) and to nothing else. */
  acceptTrafficFrom(peer: IConnectable): void {
    this.tenantSecurityGroup.connections.allowFrom(peer, Port.tcp(this.app.containerPort), 'Load balancer to tenant app');
  }

  /**
   * Lets `fn` run, watch and stop tenant tasks in this cluster, and nothing else in ECS, and
   * tells it how to start them. With `tenantTaskDefinitions`, tenants get task definitions of
   * their own (`dm-<installation>-<tenant>`, to mount their data: RunTask cannot override
   * volumes), which `fn` may register, find, run and remove.
   */
  bindCompute(fn: LambdaFunction, installation: string, { tenantTaskDefinitions = false } = {}): void {
    const stack = Stack.of(this);
    const inThisCluster = { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } };
    const taggedOnCreate = { [`aws:RequestTag/${INSTALLATION_TAG}`]: installation };
    const taskDefinitions = (family: string) =>
      stack.formatArn({
        service: 'ecs',
        resource: 'task-definition',
        resourceName: `${family}:*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    const ownTaskDefinitions = taskDefinitions(`${taskFamilyPrefix(installation)}*`);
    const tasks = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const statements = {
      run: new PolicyStatement({
        sid: 'RunTenantTasks',
        actions: ['ecs:RunTask'],
        // Any revision of the tenant family and of each plan's (a deployment replaces the revision
        // the function is given), and of this installation's tenant families.
        resources: [
          taskDefinitions(this.taskDefinition.family),
          ...[...this.planTaskDefinitions.values()].map((planTask) => taskDefinitions(planTask.family)),
          ...(tenantTaskDefinitions ? [ownTaskDefinitions] : []),
        ],
        // Every task it starts carries this installation's tag.
        conditions: { ...inThisCluster, StringEquals: taggedOnCreate },
      }),
      stop: new PolicyStatement({
        sid: 'StopTenantTasks',
        actions: ['ecs:StopTask'],
        resources: [tasks],
        // Only tasks of this installation: never another's, nor one from before the tag.
        conditions: { ...inThisCluster, StringEquals: { [`aws:ResourceTag/${INSTALLATION_TAG}`]: installation } },
      }),
      manage: new PolicyStatement({
        sid: 'ManageTenantTasks',
        actions: ['ecs:DescribeTasks'],
        resources: [tasks],
        conditions: inThisCluster,
      }),
      tag: new PolicyStatement({
        sid: 'TagTenantTasksOnRun',
        actions: ['ecs:TagResource'],
        resources: [tasks],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask', ...taggedOnCreate } },
      }),
      list: new PolicyStatement({
        sid: 'ListTenantTasks',
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: inThisCluster,
      }),
      passRoles: new PolicyStatement({
        sid: 'PassTenantTaskRoles',
        actions: ['iam:PassRole'],
        resources: [this.taskRole.roleArn, this.executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    };
    for (const statement of Object.values(statements)) fn.addToRolePolicy(statement);
    if (fn.role) {
      acknowledgeWildcardResources(
        fn.role,
        statements.run,
        "RunTask is allowed on every revision of the stack's tenant task definition families only (the installation's, and each plan's with an image of its own), and only in this cluster (ecs:cluster condition).",
      );
      acknowledgeWildcardResources(
        fn.role,
        statements.stop,
        'Task ids are generated by ECS at run time; the ARN pattern, the ecs:cluster condition and the installation tag condition hold it to tasks of this installation in this cluster.',
      );
      acknowledgeWildcardResources(
        fn.role,
        statements.manage,
        'DescribeTasks is read-only; task ids are generated by ECS at run time; the ARN pattern and the ecs:cluster condition hold it to tasks in this cluster.',
      );
      acknowledgeWildcardResources(
        fn.role,
        statements.tag,
        'Tags can only be set as part of RunTask (ecs:CreateAction condition) on tasks of this cluster, whose ids are generated at run time.',
      );
      acknowledgeWildcardResources(
        fn.role,
        statements.list,
        'ecs:ListTasks is read-only and has no task-level resource; the ecs:cluster condition holds it to this cluster.',
      );
    }

    if (tenantTaskDefinitions) this.bindTenantTaskDefinitions(fn, installation, ownTaskDefinitions);

    addSettings(fn, {
      DORMOUSE_CLUSTER: this.cluster.clusterArn,
      DORMOUSE_TASK_DEFINITION: this.taskDefinition.taskDefinitionArn,
      ...(this.planTaskDefinitions.size === 0
        ? {}
        : {
            DORMOUSE_PLAN_TASK_DEFINITIONS: stack.toJsonString(
              Object.fromEntries([...this.planTaskDefinitions].map(([plan, planTask]) => [plan, planTask.taskDefinitionArn])),
            ),
          }),
      DORMOUSE_CONTAINER_NAME: TENANT_CONTAINER_NAME,
      DORMOUSE_CONTAINER_PORT: this.app.containerPort,
      DORMOUSE_HEALTH_CHECK_PATH: this.app.healthCheckPath,
      DORMOUSE_SUBNETS: this.vpc.privateSubnets.map((subnet) => subnet.subnetId),
      DORMOUSE_SECURITY_GROUPS: this.tenantSecurityGroup.securityGroupId,
      DORMOUSE_ASSIGN_PUBLIC_IP: 'false',
      DORMOUSE_VPC_ID: this.vpc.vpcId,
    });
  }

  /**
   * Registering, describing, listing, deregistering and deleting task definitions have no
   * resource-level scope in ECS: only the tag on what is registered, and the tag-on-create, can
   * be held to this installation. Passing the two tenant roles is granted by bindCompute.
   */
  private bindTenantTaskDefinitions(fn: LambdaFunction, installation: string, ownTaskDefinitions: string): void {
    const taggedOnCreate = { [`aws:RequestTag/${INSTALLATION_TAG}`]: installation };
    const statements = {
      register: new PolicyStatement({
        sid: 'RegisterTenantTaskDefinitions',
        actions: ['ecs:RegisterTaskDefinition'],
        resources: ['*'],
        conditions: { StringEquals: taggedOnCreate },
      }),
      tag: new PolicyStatement({
        sid: 'TagTenantTaskDefinitionsOnRegister',
        actions: ['ecs:TagResource'],
        resources: [ownTaskDefinitions],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition', ...taggedOnCreate } },
      }),
      read: new PolicyStatement({
        sid: 'FindTenantTaskDefinitions',
        actions: ['ecs:DescribeTaskDefinition', 'ecs:ListTaskDefinitions', 'ecs:ListTaskDefinitionFamilies'],
        resources: ['*'],
      }),
      remove: new PolicyStatement({
        sid: 'RemoveTenantTaskDefinitions',
        actions: ['ecs:DeregisterTaskDefinition', 'ecs:DeleteTaskDefinitions'],
        resources: ['*'],
      }),
    };
    for (const statement of Object.values(statements)) fn.addToRolePolicy(statement);
    if (!fn.role) return;
    acknowledgeWildcardResources(
      fn.role,
      statements.register,
      "ecs:RegisterTaskDefinition has no resource-level scope; the aws:RequestTag condition makes every task definition it registers carry this installation's tag.",
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.tag,
      "Tags can only be set as part of RegisterTaskDefinition (ecs:CreateAction) on revisions of this installation's tenant families, whose revision numbers ECS assigns.",
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.read,
      'Describing and listing task definitions are read-only and have no resource-level scope in ECS; the adapter checks the owner tags of what it finds.',
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.remove,
      'Deregistering and deleting task definitions have no resource-level scope in ECS; the adapter removes only revisions of the ' +
        "installation's tenant families whose owner tags it has checked. A task definition holds no data and runs nothing by itself.",
    );
  }

  private network(network: TenantNetwork, logRetention: RetentionDays): IVpc {
    if ('vpcId' in network) {
      const existing = Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: network.vpcId,
        availabilityZones: network.availabilityZones,
        publicSubnetIds: network.publicSubnetIds,
        privateSubnetIds: network.privateSubnetIds,
      });
      acknowledge(
        existing,
        '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        "Dormouse adds no routes or endpoints to an existing VPC, so it never needs its subnets' route tables.",
      );
      return existing;
    }
    const vpc = new Vpc(this, 'Vpc', {
      availabilityZones: network.availabilityZones,
      natGateways: network.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        // Room for a few thousand task ENIs per zone.
        { name: 'tenants', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      // Every ENI Dormouse creates has its own group; restricting the unused default group would
      // need a custom-resource Lambda in the stack for no change in what can reach what.
      restrictDefaultSecurityGroup: false,
    });
    // Rejected traffic only: enough to see a tenant trying to reach another, at little cost.
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      ),
    });
    return vpc;
  }

  /**
   * The demo application as an image asset: synth only stages `demo/` (no Docker needed);
   * `cdk deploy` builds it for the tasks' architecture (its base image has both) and pushes it to
   * the CDK bootstrap repository, which the execution role is granted pull on.
   */
  private demoImage(): ContainerImage {
    const platform = this.app.architecture === 'arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64;
    const image = ContainerImage.fromAsset(DEMO_APP_DIRECTORY, { platform });
    acknowledge(
      this.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken, which every image pull starts with, has no resource-level scope.',
    );
    return image;
  }

  private image(reference: string): ContainerImage {
    const ecr = ECR_IMAGE.exec(reference);
    if (!ecr) return ContainerImage.fromRegistry(reference);
    const [, account, region, name, tag, digest] = ecr;
    const stack = Stack.of(this);
    const repositoryArn = stack.formatArn({
      service: 'ecr',
      account,
      region,
      resource: 'repository',
      resourceName: name,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    // One construct per repository, however many plans pull from it.
    const known = this.repositories.get(repositoryArn);
    const repository =
      known ??
      Repository.fromRepositoryAttributes(
        this,
        this.repositories.size === 0 ? 'ImageRepository' : `ImageRepository${this.repositories.size}`,
        {
          repositoryName: name as string,
          repositoryArn,
        },
      );
    this.repositories.set(repositoryArn, repository);
    // fromEcrRepository grants the execution role pull on this repository.
    const image = ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest');
    acknowledge(
      this.executionRole,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken, which every image pull starts with, has no resource-level scope.',
    );
    return image;
  }
}
