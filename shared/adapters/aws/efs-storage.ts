import {
  AccessPointAlreadyExists,
  AccessPointNotFound,
  CreateAccessPointCommand,
  DeleteAccessPointCommand,
  DescribeAccessPointsCommand,
  EFSClient,
  paginateDescribeAccessPoints,
  type AccessPointDescription,
  type Tag as EfsTag,
} from '@aws-sdk/client-efs';
import {
  ClientException,
  DeleteTaskDefinitionsCommand,
  DeregisterTaskDefinitionCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  ListTaskDefinitionFamiliesCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  paginateListTaskDefinitionFamilies,
  paginateListTaskDefinitions,
  type RegisterTaskDefinitionCommandInput,
  type Tag as EcsTag,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ForeignResourceError } from '../../domain/errors.js';
import type { DataSize, Storage, StorageInventory } from '../../ports/storage.js';
import {
  INSTALLATION_TAG,
  TENANT_TAG,
  accessPointToken,
  ownerFromTags,
  ownerTags,
  taskFamily,
  taskFamilyPrefix,
  type Owner,
} from '../common/names.js';

/** The volume every tenant task definition adds to the installation's task definition. */
export const DATA_VOLUME = 'tenant-data';
/** Tag on a tenant task definition: the base revision it was built from, so a new deployment is noticed. */
export const BASE_TASK_DEFINITION_TAG = 'dormouse:base-task-definition';
/** Every tenant's files belong to this POSIX user and group, whatever user the container runs as. */
const POSIX_ID = 1000;
/** DeleteTaskDefinitions takes at most 10 revisions per call. */
const DELETE_BATCH = 10;
/** Tokens tried for one tenant, should EFS keep remembering tokens of deleted access points. */
const MAX_TOKENS = 5;

/** Fields of a described task definition that RegisterTaskDefinition takes back unchanged. */
const COPIED_FIELDS = [
  'taskRoleArn',
  'executionRoleArn',
  'networkMode',
  'requiresCompatibilities',
  'cpu',
  'memory',
  'runtimePlatform',
  'ephemeralStorage',
  'pidMode',
  'ipcMode',
  'proxyConfiguration',
  'placementConstraints',
  'inferenceAccelerators',
  'enableFaultInjection',
] as const satisfies ReadonlyArray<keyof TaskDefinition & keyof RegisterTaskDefinitionCommandInput>;

export interface EfsStorageOptions {
  efsClient?: EFSClient;
  ecsClient?: ECSClient;
  lambdaClient?: LambdaClient;
  /** In every name, token and tag. */
  installation: string;
  fileSystemId: string;
  /** The installation's task definition (family, family:revision or ARN) that tenant task definitions copy. */
  baseTaskDefinition: string;
  /** What tenants on these plans copy instead: the task definitions of plans with an image of their own. */
  planTaskDefinitions?: Readonly<Record<string, string>>;
  /** The container that mounts the data and gets DATA_DIR. */
  containerName: string;
  /** Where the tenant's directory is mounted in the container, e.g. `/data`. */
  dataPath: string;
  /** Name or ARN of the function that deletes one tenant's files (it mounts the file system's root). */
  dataFunction: string;
  /** How long a removal of files is waited for; well within a reconcile run. */
  removeWaitMs?: number;
}

/** The cleaner function ran but failed: the tenant's files may still be there. */
export class DataCleanerError extends Error {
  constructor(
    readonly tenantId: string,
    readonly functionError: string,
    readonly detail: string,
  ) {
    super(`The data cleaner could not delete the files of tenant "${tenantId}" (${functionError}): ${detail}`);
    this.name = 'DataCleanerError';
  }
}

/** The data function could not say how much data a tenant keeps: its storage is not metered this time. */
export class DataSizeError extends Error {
  constructor(
    readonly tenantId: string,
    readonly functionError: string,
    readonly detail: string,
  ) {
    super(`The data function could not measure the files of tenant "${tenantId}" (${functionError}): ${detail}`);
    this.name = 'DataSizeError';
  }
}

/**
 * Each tenant's persistent data on AWS: an EFS access point rooted at `/tenants/<tenant>` with a
 * fixed POSIX owner, so a task can only mount its own tree, and a task definition of the
 * tenant's own (family `taskFamily`) that mounts it, since RunTask cannot override volumes.
 * `ensure` returns that task definition's ARN, which EcsCompute runs instead of the base one.
 *
 * Everything is found again by name or client token after a crash, and trusted only once its
 * tags name this tenant and installation.
 */
export class EfsStorage implements Storage, StorageInventory {
  private readonly efs: EFSClient;
  private readonly ecs: ECSClient;
  private readonly lambda: LambdaClient;
  private readonly installation: string;
  private readonly fileSystemId: string;
  private readonly baseTaskDefinition: string;
  private readonly planTaskDefinitions: Readonly<Record<string, string>>;
  private readonly containerName: string;
  private readonly dataPath: string;
  private readonly dataFunction: string;
  private readonly removeWaitMs: number;
  /** Bases by name: they change only with a deployment, which also starts new processes. */
  private readonly bases = new Map<string, Promise<TaskDefinition>>();

  constructor({
    efsClient = new EFSClient({}),
    ecsClient = new ECSClient({}),
    lambdaClient = new LambdaClient({}),
    installation,
    fileSystemId,
    baseTaskDefinition,
    planTaskDefinitions = {},
    containerName,
    dataPath,
    dataFunction,
    removeWaitMs = 60_000,
  }: EfsStorageOptions) {
    this.removeWaitMs = removeWaitMs;
    this.efs = efsClient;
    this.ecs = ecsClient;
    this.lambda = lambdaClient;
    this.installation = installation;
    this.fileSystemId = fileSystemId;
    this.baseTaskDefinition = baseTaskDefinition;
    this.planTaskDefinitions = planTaskDefinitions;
    this.containerName = containerName;
    this.dataPath = dataPath;
    this.dataFunction = dataFunction;
  }

  /**
   * Two reads when all is in place (the tenant task definition, then its access point); the
   * access point is created and a task definition registered only when missing or out of date:
   * after a deployment, or when the tenant moves to a plan with another task definition.
   */
  async ensure(tenantId: string, { plan }: { plan?: string } = {}): Promise<string> {
    const family = taskFamily(this.installation, tenantId);
    const current = await this.describeTenantTaskDefinition(family, tenantId);
    const base = await this.baseDefinition((plan !== undefined ? this.planTaskDefinitions[plan] : undefined) ?? this.baseTaskDefinition);
    const upToDate = current !== undefined && tagValue(current.tags, BASE_TASK_DEFINITION_TAG) === base.taskDefinitionArn;
    const mounted = current && accessPointOf(current.definition);
    if (upToDate && mounted && (await this.usable(mounted, tenantId))) return current.definition.taskDefinitionArn!;

    const accessPointId = await this.ensureAccessPoint(tenantId);
    if (upToDate && mounted === accessPointId) return current.definition.taskDefinitionArn!;
    const registered = await this.register(family, tenantId, base, accessPointId);
    if (current) {
      // Tasks still running on the superseded revision go on (ECS deletes it once they stop);
      // nothing starts on it again, and no deployment leaves a revision per tenant behind.
      const superseded = current.definition.taskDefinitionArn;
      await this.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: superseded }));
      await this.ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: [superseded!] }));
    }
    return registered;
  }

  /**
   * Files first: while the access point and task definitions exist, a retry still finds
   * everything. The access points to delete are the ones the tenant's task definitions mount;
   * only a tenant left without any (a run that crashed before registering one) costs a listing
   * of the whole file system.
   */
  async remove(tenantId: string): Promise<void> {
    await this.deleteFiles(tenantId);
    const revisions = await this.activeRevisions(tenantId);
    const mounted = [...new Set(revisions.flatMap((revision) => revision.accessPointId ?? []))];
    const accessPoints =
      mounted.length > 0
        ? await this.ownAccessPoints(mounted, tenantId)
        : (await this.listAccessPoints())
            .filter((accessPoint) => this.ownedBy(ownerOfAccessPoint(accessPoint), tenantId))
            .map((accessPoint) => accessPoint.AccessPointId!);
    for (const accessPointId of accessPoints) {
      try {
        await this.efs.send(new DeleteAccessPointCommand({ AccessPointId: accessPointId }));
      } catch (error) {
        if (!(error instanceof AccessPointNotFound)) throw error;
      }
    }
    const arns = revisions.map((revision) => revision.arn);
    for (const arn of arns) await this.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: arn }));
    for (let start = 0; start < arns.length; start += DELETE_BATCH) {
      await this.ecs.send(new DeleteTaskDefinitionsCommand({ taskDefinitions: arns.slice(start, start + DELETE_BATCH) }));
    }
  }

  /** What the tenant's files take, as the data function (which mounts the file system) measures it. */
  async dataBytes(tenantId: string): Promise<DataSize> {
    const { FunctionError, Payload } = await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.dataFunction,
        InvocationType: 'RequestResponse',
        Payload: JSON.stringify({ action: 'size', tenantId }),
      }),
    );
    const answer = Payload ? new TextDecoder().decode(Payload) : '';
    const size = FunctionError ? {} : (JSON.parse(answer || '{}') as { bytes?: unknown; lowerBound?: unknown });
    if (typeof size.bytes !== 'number') throw new DataSizeError(tenantId, FunctionError ?? 'NoSize', answer);
    return size.lowerBound === true ? { bytes: size.bytes, lowerBound: true } : { bytes: size.bytes };
  }

  /**
   * The tenants of this installation with an access point on the file system, or an active task
   * definition family. A family costs a DescribeTaskDefinition only when no access point already
   * names its tenant, which is rare: both are made together and removed together.
   */
  async managedTenants(): Promise<string[]> {
    const tenants = new Set<string>();
    for (const accessPoint of await this.listAccessPoints()) {
      const owner = ownerOfAccessPoint(accessPoint);
      if (owner.installation === this.installation && owner.tenantId) tenants.add(owner.tenantId);
    }
    const covered = new Set([...tenants].map((tenantId) => taskFamily(this.installation, tenantId)));
    const pages = paginateListTaskDefinitionFamilies(
      { client: this.ecs, withCommand: (command) => new ListTaskDefinitionFamiliesCommand({ ...command.input }) },
      { familyPrefix: taskFamilyPrefix(this.installation), status: 'ACTIVE' },
    );
    for await (const page of pages) {
      for (const family of page.families ?? []) {
        if (covered.has(family)) continue;
        const described = await this.describe(family);
        const owner = ownerFromTags(described?.tags);
        if (owner.installation === this.installation && owner.tenantId && family === taskFamily(this.installation, owner.tenantId)) {
          tenants.add(owner.tenantId);
        }
      }
    }
    return [...tenants].sort();
  }

  private ownedBy(owner: Owner, tenantId: string): boolean {
    return owner.tenantId === tenantId && owner.installation === this.installation;
  }

  private baseDefinition(name: string): Promise<TaskDefinition> {
    let base = this.bases.get(name);
    if (!base) {
      base = this.describeBase(name).catch((error: unknown) => {
        // A failed read is not remembered: the next call asks again.
        this.bases.delete(name);
        throw error;
      });
      this.bases.set(name, base);
    }
    return base;
  }

  private async describeBase(name: string): Promise<TaskDefinition> {
    const { taskDefinition } = await this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: name }));
    if (!taskDefinition?.taskDefinitionArn) throw new Error(`ECS described no task definition ${name}`);
    return taskDefinition;
  }

  /** The latest active revision of a family and its tags, or undefined when it has none. */
  private async describe(taskDefinition: string): Promise<{ definition: TaskDefinition; tags: EcsTag[] } | undefined> {
    try {
      const { taskDefinition: definition, tags = [] } = await this.ecs.send(
        new DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] }),
      );
      return definition ? { definition, tags } : undefined;
    } catch (error) {
      // ECS answers a family with no active revision as a client error ("Unable to describe task definition").
      if (error instanceof ClientException && /unable to describe|not found|does not exist/i.test(error.message)) return undefined;
      throw error;
    }
  }

  private async describeTenantTaskDefinition(family: string, tenantId: string) {
    const found = await this.describe(family);
    if (!found) return undefined;
    const owner = ownerFromTags(found.tags);
    if (!this.ownedBy(owner, tenantId)) {
      throw new ForeignResourceError('task definition', found.definition.taskDefinitionArn ?? family, tenantId, owner);
    }
    return found;
  }

  /**
   * The access point if it still exists, once its tags say it is the tenant's (ForeignResourceError
   * otherwise). It may be on another file system: one an earlier stack of this installation kept.
   */
  private async findAccessPoint(accessPointId: string, tenantId: string): Promise<AccessPointDescription | undefined> {
    try {
      const { AccessPoints = [] } = await this.efs.send(new DescribeAccessPointsCommand({ AccessPointId: accessPointId }));
      const accessPoint = AccessPoints[0];
      if (!accessPoint || accessPoint.LifeCycleState === 'deleting' || accessPoint.LifeCycleState === 'deleted') return undefined;
      const owner = ownerOfAccessPoint(accessPoint);
      if (!this.ownedBy(owner, tenantId)) throw new ForeignResourceError('access point', accessPointId, tenantId, owner);
      return accessPoint;
    } catch (error) {
      if (error instanceof AccessPointNotFound) return undefined;
      throw error;
    }
  }

  /** The access point exists, is the tenant's and is on this installation's file system. */
  private async usable(accessPointId: string, tenantId: string): Promise<boolean> {
    return (await this.findAccessPoint(accessPointId, tenantId))?.FileSystemId === this.fileSystemId;
  }

  private checkAccessPoint(accessPoint: AccessPointDescription, tenantId: string): void {
    const owner = ownerOfAccessPoint(accessPoint);
    if (!this.ownedBy(owner, tenantId) || accessPoint.FileSystemId !== this.fileSystemId) {
      throw new ForeignResourceError('access point', accessPoint.AccessPointId ?? '?', tenantId, owner);
    }
  }

  /**
   * CreateAccessPoint with the tenant's client token: the first call creates it, a repeated one
   * answers AccessPointAlreadyExists with its id. Should that id be an access point deleted
   * since, or one on another file system, the next token is derived from it.
   */
  private async ensureAccessPoint(tenantId: string): Promise<string> {
    let replacing: string | undefined;
    for (let attempt = 0; attempt < MAX_TOKENS; attempt++) {
      try {
        const created = await this.efs.send(
          new CreateAccessPointCommand({
            ClientToken: accessPointToken(this.installation, tenantId, replacing),
            FileSystemId: this.fileSystemId,
            PosixUser: { Uid: POSIX_ID, Gid: POSIX_ID },
            RootDirectory: {
              Path: `/tenants/${tenantId}`,
              CreationInfo: { OwnerUid: POSIX_ID, OwnerGid: POSIX_ID, Permissions: '0700' },
            },
            Tags: [
              { Key: TENANT_TAG, Value: tenantId },
              { Key: INSTALLATION_TAG, Value: this.installation },
              { Key: 'Name', Value: taskFamily(this.installation, tenantId) },
            ],
          }),
        );
        this.checkAccessPoint(created, tenantId);
        return created.AccessPointId!;
      } catch (error) {
        if (!(error instanceof AccessPointAlreadyExists) || !error.AccessPointId) throw error;
        if (await this.usable(error.AccessPointId, tenantId)) return error.AccessPointId;
        replacing = error.AccessPointId;
      }
    }
    throw new Error(`EFS kept answering AccessPointAlreadyExists with deleted access points for tenant "${tenantId}"`);
  }

  private async register(family: string, tenantId: string, base: TaskDefinition, accessPointId: string): Promise<string> {
    const containers = base.containerDefinitions ?? [];
    if (!containers.some((container) => container.name === this.containerName)) {
      throw new Error(`The task definition ${base.taskDefinitionArn} has no container named "${this.containerName}"`);
    }
    const copied = Object.fromEntries(COPIED_FIELDS.flatMap((field) => (base[field] === undefined ? [] : [[field, base[field]]])));
    const { taskDefinition } = await this.ecs.send(
      new RegisterTaskDefinitionCommand({
        ...copied,
        family,
        containerDefinitions: containers.map((container) =>
          container.name === this.containerName
            ? {
                ...container,
                mountPoints: [
                  ...(container.mountPoints ?? []),
                  { sourceVolume: DATA_VOLUME, containerPath: this.dataPath, readOnly: false },
                ],
                environment: [
                  ...(container.environment ?? []).filter((variable) => variable.name !== 'DATA_DIR'),
                  { name: 'DATA_DIR', value: this.dataPath },
                ],
              }
            : container,
        ),
        volumes: [
          ...(base.volumes ?? []),
          {
            name: DATA_VOLUME,
            efsVolumeConfiguration: {
              fileSystemId: this.fileSystemId,
              transitEncryption: 'ENABLED',
              authorizationConfig: { accessPointId, iam: 'ENABLED' },
            },
          },
        ],
        tags: [...ownerTags(this.installation, tenantId), { key: BASE_TASK_DEFINITION_TAG, value: base.taskDefinitionArn }],
      }),
    );
    if (!taskDefinition?.taskDefinitionArn) throw new Error(`ECS registered no task definition for family ${family}`);
    return taskDefinition.taskDefinitionArn;
  }

  /**
   * Synchronous, so a failure is seen here and the reconciler tries the delete again. The data
   * function may run far longer (it also restores whole tenants) than a reconcile run lasts: past
   * `removeWaitMs` the removal is left to go on and counted as not done yet, and the next attempt
   * finishes it (removing is safe to repeat).
   */
  private async deleteFiles(tenantId: string): Promise<void> {
    const stopWaiting = new AbortController();
    const timedOut = new Promise<never>((_, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new DataCleanerError(
              tenantId,
              'StillRunning',
              `still removing after ${this.removeWaitMs / 1000} s; the next attempt finishes it`,
            ),
          ),
        this.removeWaitMs,
      );
      stopWaiting.signal.addEventListener('abort', () => clearTimeout(timer));
    });
    const invoked = this.lambda.send(
      new InvokeCommand({
        FunctionName: this.dataFunction,
        InvocationType: 'RequestResponse',
        Payload: JSON.stringify({ tenantId }),
      }),
      { abortSignal: stopWaiting.signal },
    );
    const { FunctionError, Payload } = await Promise.race([invoked, timedOut]).finally(() => stopWaiting.abort());
    if (FunctionError) throw new DataCleanerError(tenantId, FunctionError, Payload ? new TextDecoder().decode(Payload) : '');
  }

  private async listAccessPoints(): Promise<AccessPointDescription[]> {
    const accessPoints: AccessPointDescription[] = [];
    const pages = paginateDescribeAccessPoints(
      // A copy of the input per page, so each request stays as it was sent.
      { client: this.efs, withCommand: (command) => new DescribeAccessPointsCommand({ ...command.input }) },
      { FileSystemId: this.fileSystemId },
    );
    for await (const page of pages) accessPoints.push(...(page.AccessPoints ?? []));
    return accessPoints;
  }

  /**
   * The active revisions of the tenant's family that carry its tags, with the access point each
   * mounts; a prefix also matches longer families.
   */
  private async activeRevisions(tenantId: string): Promise<Array<{ arn: string; accessPointId?: string }>> {
    const family = taskFamily(this.installation, tenantId);
    const revisions: Array<{ arn: string; accessPointId?: string }> = [];
    const pages = paginateListTaskDefinitions(
      { client: this.ecs, withCommand: (command) => new ListTaskDefinitionsCommand({ ...command.input }) },
      { familyPrefix: family, status: 'ACTIVE' },
    );
    for await (const page of pages) {
      for (const arn of page.taskDefinitionArns ?? []) {
        if (familyOf(arn) !== family) continue;
        const described = await this.describe(arn);
        if (!described || !this.ownedBy(ownerFromTags(described.tags), tenantId)) continue;
        const accessPointId = accessPointOf(described.definition);
        revisions.push({ arn, ...(accessPointId ? { accessPointId } : {}) });
      }
    }
    return revisions;
  }

  /** Those of the access points that still exist and are the tenant's; another's is left alone. */
  private async ownAccessPoints(accessPointIds: string[], tenantId: string): Promise<string[]> {
    const owned: string[] = [];
    for (const accessPointId of accessPointIds) {
      try {
        const { AccessPoints = [] } = await this.efs.send(new DescribeAccessPointsCommand({ AccessPointId: accessPointId }));
        const accessPoint = AccessPoints[0];
        if (accessPoint && this.ownedBy(ownerOfAccessPoint(accessPoint), tenantId)) owned.push(accessPointId);
      } catch (error) {
        if (!(error instanceof AccessPointNotFound)) throw error;
      }
    }
    return owned;
  }
}

function tagValue(tags: EcsTag[], key: string): string | undefined {
  return tags.find((tag) => tag.key === key)?.value;
}

function ownerOfAccessPoint(accessPoint: AccessPointDescription): Owner {
  return ownerFromTags((accessPoint.Tags ?? []).map((tag: EfsTag) => ({ key: tag.Key, value: tag.Value })));
}

/** The access point a tenant task definition mounts as its data volume. */
function accessPointOf(definition: TaskDefinition): string | undefined {
  return definition.volumes?.find((volume) => volume.name === DATA_VOLUME)?.efsVolumeConfiguration?.authorizationConfig?.accessPointId;
}

/** `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>` → `<family>`. */
function familyOf(taskDefinitionArn: string): string {
  return taskDefinitionArn.slice(taskDefinitionArn.lastIndexOf('/') + 1).replace(/:\d+$/, '');
}
