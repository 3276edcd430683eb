import { beforeEach, describe, expect, it } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AccessPointAlreadyExists,
  AccessPointNotFound,
  CreateAccessPointCommand,
  DeleteAccessPointCommand,
  DescribeAccessPointsCommand,
  EFSClient,
  type AccessPointDescription,
  type CreateAccessPointCommandInput,
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
  type RegisterTaskDefinitionCommandInput,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { DataCleanerError, EfsStorage } from '../../shared/adapters/aws/efs-storage.js';
import { accessPointToken } from '../../shared/adapters/common/names.js';
import { ForeignResourceError } from '../../shared/domain/errors.js';

const efs = mockClient(EFSClient);
const ecs = mockClient(ECSClient);
const lambda = mockClient(LambdaClient);
const meta = { $metadata: { httpStatusCode: 400 } };

const INSTALLATION = 'prod';
const FILE_SYSTEM = 'fs-0123456789abcdef0';
const BASE = 'dormouse-tenant';
const CLEANER = 'dormouse-prod-DataCleaner';
const TASK_DEFINITIONS = 'arn:aws:ecs:eu-west-1:123456789012:task-definition';
const BASE_ARN = `${TASK_DEFINITIONS}/dormouse-tenant:7`;
const NEW_BASE_ARN = `${TASK_DEFINITIONS}/dormouse-tenant:8`;
const FAMILY = 'dm-prod-acme';
const ACCESS_POINT = 'fsap-0aaaaaaaaaaaaaaa1';

function storage(planTaskDefinitions?: Record<string, string>): EfsStorage {
  return new EfsStorage({
    ...(planTaskDefinitions ? { planTaskDefinitions } : {}),
    efsClient: new EFSClient({ region: 'eu-west-1' }),
    ecsClient: new ECSClient({ region: 'eu-west-1' }),
    lambdaClient: new LambdaClient({ region: 'eu-west-1' }),
    installation: INSTALLATION,
    fileSystemId: FILE_SYSTEM,
    baseTaskDefinition: BASE,
    containerName: 'app',
    dataPath: '/data',
    dataFunction: CLEANER,
  });
}

/** The installation's task definition as DescribeTaskDefinition returns it, output-only fields included. */
function baseDefinition(arn = BASE_ARN): TaskDefinition {
  return {
    taskDefinitionArn: arn,
    family: 'dormouse-tenant',
    revision: Number(arn.split(':').pop()),
    status: 'ACTIVE',
    taskRoleArn: 'arn:aws:iam::123456789012:role/dormouse-prod-TenantTaskRole',
    executionRoleArn: 'arn:aws:iam::123456789012:role/dormouse-prod-TenantExecutionRole',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    compatibilities: ['EC2', 'FARGATE'],
    requiresAttributes: [{ name: 'ecs.capability.execution-role-awslogs' }],
    cpu: '256',
    memory: '512',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    containerDefinitions: [
      {
        name: 'app',
        image: 'public.ecr.aws/dormouse/whoami:1',
        portMappings: [{ containerPort: 80 }],
        environment: [{ name: 'PORT', value: '80' }],
      },
      { name: 'log-router', image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable' },
    ],
    registeredAt: new Date('2026-11-01T00:00:00Z'),
    registeredBy: 'arn:aws:sts::123456789012:assumed-role/cdk-deploy/session',
  };
}

function owner(tenant: string, installation = INSTALLATION) {
  return [
    { key: 'dormouse:tenant', value: tenant },
    { key: 'dormouse:installation', value: installation },
  ];
}

/** The tenant task definition EfsStorage registers over `base` for tenant acme. */
function expectedRegistration(base = BASE_ARN, accessPointId = ACCESS_POINT): RegisterTaskDefinitionCommandInput & Record<string, unknown> {
  return {
    family: FAMILY,
    taskRoleArn: 'arn:aws:iam::123456789012:role/dormouse-prod-TenantTaskRole',
    executionRoleArn: 'arn:aws:iam::123456789012:role/dormouse-prod-TenantExecutionRole',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    containerDefinitions: [
      {
        name: 'app',
        image: 'public.ecr.aws/dormouse/whoami:1',
        portMappings: [{ containerPort: 80 }],
        environment: [
          { name: 'PORT', value: '80' },
          { name: 'DATA_DIR', value: '/data' },
        ],
        mountPoints: [{ sourceVolume: 'tenant-data', containerPath: '/data', readOnly: false }],
      },
      { name: 'log-router', image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable' },
    ],
    volumes: [
      {
        name: 'tenant-data',
        efsVolumeConfiguration: {
          fileSystemId: FILE_SYSTEM,
          transitEncryption: 'ENABLED',
          authorizationConfig: { accessPointId, iam: 'ENABLED' },
        },
      },
    ],
    tags: [...owner('acme'), { key: 'dormouse:base-task-definition', value: base }],
  };
}

const expectedAccessPoint: CreateAccessPointCommandInput & Record<string, unknown> = {
  ClientToken: 'dm-prod-acme',
  FileSystemId: FILE_SYSTEM,
  PosixUser: { Uid: 1000, Gid: 1000 },
  RootDirectory: { Path: '/tenants/acme', CreationInfo: { OwnerUid: 1000, OwnerGid: 1000, Permissions: '0700' } },
  Tags: [
    { Key: 'dormouse:tenant', Value: 'acme' },
    { Key: 'dormouse:installation', Value: INSTALLATION },
    { Key: 'Name', Value: FAMILY },
  ],
};

function accessPoint(id: string, tenant: string, installation = INSTALLATION): AccessPointDescription {
  return {
    AccessPointId: id,
    FileSystemId: FILE_SYSTEM,
    LifeCycleState: 'available',
    RootDirectory: { Path: `/tenants/${tenant}` },
    Tags: [
      { Key: 'dormouse:tenant', Value: tenant },
      { Key: 'dormouse:installation', Value: installation },
    ],
  };
}

/** A revision of the tenant's task definition as DescribeTaskDefinition answers it with TAGS. */
function tenantDefinition(revision: number, base = BASE_ARN, accessPointId = ACCESS_POINT, tags = owner('acme')) {
  return {
    taskDefinition: {
      taskDefinitionArn: `${TASK_DEFINITIONS}/${FAMILY}:${revision}`,
      family: FAMILY,
      revision,
      volumes: expectedRegistration(base, accessPointId).volumes,
    },
    tags: [...tags, { key: 'dormouse:base-task-definition', value: base }],
  };
}

/** A response payload as the SDK hands it over: bytes that can also read themselves as text. */
function payload(text: string): InvokeCommandOutput['Payload'] {
  return Object.assign(new TextEncoder().encode(text), { transformToString: () => text });
}

const noActiveRevision = () => new ClientException({ message: 'Unable to describe task definition.', ...meta });
const alreadyExists = (id: string) =>
  new AccessPointAlreadyExists({
    message: 'Access point already exists',
    ErrorCode: 'AccessPointAlreadyExists',
    AccessPointId: id,
    ...meta,
  });
const notFound = () => new AccessPointNotFound({ message: 'Access point not found', ErrorCode: 'AccessPointNotFound', ...meta });

function givenBase(arn = BASE_ARN): void {
  ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: BASE }).resolves({ taskDefinition: baseDefinition(arn) });
}

function givenRegistration(revision: number): void {
  ecs.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: `${TASK_DEFINITIONS}/${FAMILY}:${revision}` } });
}

beforeEach(() => {
  efs.reset();
  ecs.reset();
  lambda.reset();
});

describe('EfsStorage.ensure', () => {
  it("creates the tenant's access point and registers its task definition over the installation's", async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).rejects(noActiveRevision());
    efs.on(CreateAccessPointCommand).resolves(accessPoint(ACCESS_POINT, 'acme'));
    givenRegistration(1);

    // Act
    const reference = await storage().ensure('acme');

    // Assess
    expect(reference).toBe(`${TASK_DEFINITIONS}/${FAMILY}:1`);
    expect(ecs.commandCalls(DescribeTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      { taskDefinition: FAMILY, include: ['TAGS'] },
      { taskDefinition: BASE },
    ]);
    expect(efs.commandCalls(CreateAccessPointCommand).map((call) => call.args[0].input)).toStrictEqual([expectedAccessPoint]);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([expectedRegistration()]);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
  });

  it('finds both again with two reads and registers nothing the second time', async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(tenantDefinition(1));
    efs.on(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT }).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });

    // Act
    const reference = await storage().ensure('acme');

    // Assess
    expect(reference).toBe(`${TASK_DEFINITIONS}/${FAMILY}:1`);
    expect(efs).toHaveReceivedCommandExactlyOnceWith(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT });
    expect(efs).not.toHaveReceivedCommand(CreateAccessPointCommand);
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
  });

  it('reads the base task definition once per process', async () => {
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(tenantDefinition(1));
    efs.on(DescribeAccessPointsCommand).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });
    const adapter = storage();

    await adapter.ensure('acme');
    await adapter.ensure('acme');

    expect(ecs).toHaveReceivedCommandTimes(DescribeTaskDefinitionCommand, 3);
    expect(ecs).toHaveReceivedNthCommandWith(DescribeTaskDefinitionCommand, 2, { taskDefinition: BASE });
  });

  it('adopts the access point a crashed run created (AccessPointAlreadyExists) once its tags are checked', async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).rejects(noActiveRevision());
    efs.on(CreateAccessPointCommand).rejects(alreadyExists(ACCESS_POINT));
    efs.on(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT }).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });
    givenRegistration(1);

    // Act
    const reference = await storage().ensure('acme');

    // Assess
    expect(reference).toBe(`${TASK_DEFINITIONS}/${FAMILY}:1`);
    expect(efs).toHaveReceivedCommandExactlyOnceWith(CreateAccessPointCommand, expectedAccessPoint);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([expectedRegistration()]);
  });

  it('registers a new revision over a new base task definition and deregisters and deletes the superseded one', async () => {
    // Prepare
    givenBase(NEW_BASE_ARN);
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(tenantDefinition(1, BASE_ARN));
    efs.on(CreateAccessPointCommand).rejects(alreadyExists(ACCESS_POINT));
    efs.on(DescribeAccessPointsCommand).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });
    givenRegistration(2);

    // Act
    const reference = await storage().ensure('acme');

    // Assess
    expect(reference).toBe(`${TASK_DEFINITIONS}/${FAMILY}:2`);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      expectedRegistration(NEW_BASE_ARN),
    ]);
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DeregisterTaskDefinitionCommand, {
      taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1`,
    });
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DeleteTaskDefinitionsCommand, {
      taskDefinitions: [`${TASK_DEFINITIONS}/${FAMILY}:1`],
    });
  });

  it("registers a new revision over the task definition of the tenant's new plan when that plan has its own, and goes back to the installation's", async () => {
    // Prepare
    const proArn = `${TASK_DEFINITIONS}/dormouse-tenant-pro:3`;
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: proArn }).resolves({ taskDefinition: baseDefinition(proArn) });
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY })
      .resolvesOnce(tenantDefinition(1))
      .resolves(tenantDefinition(2, proArn));
    efs.on(CreateAccessPointCommand).rejects(alreadyExists(ACCESS_POINT));
    efs.on(DescribeAccessPointsCommand).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });
    ecs
      .on(RegisterTaskDefinitionCommand)
      .resolvesOnce({ taskDefinition: { taskDefinitionArn: `${TASK_DEFINITIONS}/${FAMILY}:2` } })
      .resolves({ taskDefinition: { taskDefinitionArn: `${TASK_DEFINITIONS}/${FAMILY}:3` } });
    const adapter = storage({ pro: proArn });

    // Act
    const onPro = await adapter.ensure('acme', { plan: 'pro' });
    const backOnTrial = await adapter.ensure('acme', { plan: 'trial' });

    // Assess
    expect([onPro, backOnTrial]).toEqual([`${TASK_DEFINITIONS}/${FAMILY}:2`, `${TASK_DEFINITIONS}/${FAMILY}:3`]);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      expectedRegistration(proArn),
      expectedRegistration(BASE_ARN),
    ]);
    expect(ecs.commandCalls(DeregisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1` },
      { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:2` },
    ]);
  });

  it('makes a new access point and revision when the one the task definition mounts is gone', async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).resolves(tenantDefinition(1));
    efs.on(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT }).rejects(notFound());
    efs.on(CreateAccessPointCommand).resolves(accessPoint('fsap-0bbbbbbbbbbbbbbb2', 'acme'));
    givenRegistration(2);

    // Act
    await storage().ensure('acme');

    // Assess
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      expectedRegistration(BASE_ARN, 'fsap-0bbbbbbbbbbbbbbb2'),
    ]);
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DeregisterTaskDefinitionCommand, {
      taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1`,
    });
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DeleteTaskDefinitionsCommand, {
      taskDefinitions: [`${TASK_DEFINITIONS}/${FAMILY}:1`],
    });
  });

  it('derives the next client token when EFS still remembers the token of a deleted access point', async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).rejects(noActiveRevision());
    const next = accessPointToken(INSTALLATION, 'acme', 'fsap-0deleted000000001');
    efs.on(CreateAccessPointCommand, { ClientToken: 'dm-prod-acme' }).rejects(alreadyExists('fsap-0deleted000000001'));
    efs.on(CreateAccessPointCommand, { ClientToken: next }).resolves(accessPoint(ACCESS_POINT, 'acme'));
    efs.on(DescribeAccessPointsCommand, { AccessPointId: 'fsap-0deleted000000001' }).rejects(notFound());
    givenRegistration(1);

    // Act
    await storage().ensure('acme');

    // Assess
    expect(next).toMatch(/^dm-prod--[a-z2-7]{20}$/);
    expect(efs.commandCalls(CreateAccessPointCommand).map((call) => call.args[0].input.ClientToken)).toStrictEqual(['dm-prod-acme', next]);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([expectedRegistration()]);
  });

  it("makes a new access point when the token's is on a file system an earlier stack kept", async () => {
    // Prepare
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).rejects(noActiveRevision());
    const next = accessPointToken(INSTALLATION, 'acme', 'fsap-0oldfilesystem0001');
    efs.on(CreateAccessPointCommand, { ClientToken: 'dm-prod-acme' }).rejects(alreadyExists('fsap-0oldfilesystem0001'));
    efs.on(CreateAccessPointCommand, { ClientToken: next }).resolves(accessPoint(ACCESS_POINT, 'acme'));
    efs
      .on(DescribeAccessPointsCommand, { AccessPointId: 'fsap-0oldfilesystem0001' })
      .resolves({ AccessPoints: [{ ...accessPoint('fsap-0oldfilesystem0001', 'acme'), FileSystemId: 'fs-0retained000000000' }] });
    givenRegistration(1);

    // Act
    await storage().ensure('acme');

    // Assess
    expect(efs.commandCalls(CreateAccessPointCommand).map((call) => call.args[0].input.ClientToken)).toStrictEqual(['dm-prod-acme', next]);
    expect(ecs.commandCalls(RegisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([expectedRegistration()]);
  });

  it.each([
    ['another installation', accessPoint(ACCESS_POINT, 'acme', 'stage')],
    ['another tenant', accessPoint(ACCESS_POINT, 'globex')],
    ['no tags', { ...accessPoint(ACCESS_POINT, 'acme'), Tags: [] }],
  ])('refuses an access point of %s and registers nothing', async (_, foreign) => {
    givenBase();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY }).rejects(noActiveRevision());
    efs.on(CreateAccessPointCommand).rejects(alreadyExists(ACCESS_POINT));
    efs.on(DescribeAccessPointsCommand).resolves({ AccessPoints: [foreign] });

    await expect(storage().ensure('acme')).rejects.toBeInstanceOf(ForeignResourceError);
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
  });

  it('refuses a task definition family tagged as another installation’s and touches nothing', async () => {
    givenBase();
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: FAMILY })
      .resolves(tenantDefinition(4, BASE_ARN, ACCESS_POINT, owner('acme', 'stage')));

    const error = await storage()
      .ensure('acme')
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ForeignResourceError);
    expect((error as ForeignResourceError).kind).toBe('task definition');
    expect(efs).not.toHaveReceivedCommand(CreateAccessPointCommand);
    expect(ecs).not.toHaveReceivedCommand(RegisterTaskDefinitionCommand);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
  });
});

describe('EfsStorage.remove', () => {
  function givenTenantResources(): void {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('{"removed":true}') });
    efs.on(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT }).resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme')] });
    ecs.on(ListTaskDefinitionsCommand).resolves({
      taskDefinitionArns: [`${TASK_DEFINITIONS}/${FAMILY}:1`, `${TASK_DEFINITIONS}/${FAMILY}:2`, `${TASK_DEFINITIONS}/${FAMILY}-two:1`],
    });
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1` }).resolves(tenantDefinition(1));
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:2` }).resolves(tenantDefinition(2));
  }

  it("deletes the tenant's files, its access point and every revision of its family, and nothing else", async () => {
    // Prepare
    givenTenantResources();

    // Act
    await storage().remove('acme');

    // Assess
    expect(lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input)).toStrictEqual([
      { FunctionName: CLEANER, InvocationType: 'RequestResponse', Payload: '{"tenantId":"acme"}' },
    ]);
    // The access point its task definitions mount, checked by its tags: no listing of the file system.
    expect(efs.commandCalls(DescribeAccessPointsCommand).map((call) => call.args[0].input)).toStrictEqual([
      { AccessPointId: ACCESS_POINT },
    ]);
    expect(efs.commandCalls(DeleteAccessPointCommand).map((call) => call.args[0].input)).toStrictEqual([{ AccessPointId: ACCESS_POINT }]);
    expect(ecs).toHaveReceivedCommandExactlyOnceWith(ListTaskDefinitionsCommand, { familyPrefix: FAMILY, status: 'ACTIVE' });
    expect(ecs.commandCalls(DeregisterTaskDefinitionCommand).map((call) => call.args[0].input)).toStrictEqual([
      { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1` },
      { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:2` },
    ]);
    expect(ecs.commandCalls(DeleteTaskDefinitionsCommand).map((call) => call.args[0].input)).toStrictEqual([
      { taskDefinitions: [`${TASK_DEFINITIONS}/${FAMILY}:1`, `${TASK_DEFINITIONS}/${FAMILY}:2`] },
    ]);
    // The longer family that the prefix also matched is not even looked at.
    expect(ecs).not.toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}-two:1` });
  });

  it('finds an access point that no task definition mounts by listing the file system, and deletes only its own', async () => {
    // Prepare: a run crashed between CreateAccessPoint and RegisterTaskDefinition
    lambda.on(InvokeCommand).resolves({ StatusCode: 200 });
    ecs.on(ListTaskDefinitionsCommand).resolves({ taskDefinitionArns: [] });
    efs.on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM }).resolves({
      AccessPoints: [
        accessPoint('fsap-0other00000000001', 'globex'),
        accessPoint(ACCESS_POINT, 'acme'),
        accessPoint('fsap-0stage00000000001', 'acme', 'stage'),
      ],
    });

    // Act
    await storage().remove('acme');

    // Assess
    expect(efs.commandCalls(DeleteAccessPointCommand).map((call) => call.args[0].input)).toStrictEqual([{ AccessPointId: ACCESS_POINT }]);
  });

  it('leaves an access point its task definition mounts when its tags are not the tenant’s', async () => {
    givenTenantResources();
    efs
      .on(DescribeAccessPointsCommand, { AccessPointId: ACCESS_POINT })
      .resolves({ AccessPoints: [accessPoint(ACCESS_POINT, 'acme', 'stage')] });

    await storage().remove('acme');

    expect(efs).not.toHaveReceivedCommand(DeleteAccessPointCommand);
  });

  it('leaves a revision of its family that is not tagged as this installation’s', async () => {
    givenTenantResources();
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:2` })
      .resolves(tenantDefinition(2, BASE_ARN, ACCESS_POINT, owner('acme', 'stage')));

    await storage().remove('acme');

    expect(ecs).toHaveReceivedCommandExactlyOnceWith(DeregisterTaskDefinitionCommand, {
      taskDefinition: `${TASK_DEFINITIONS}/${FAMILY}:1`,
    });
  });

  it('succeeds again once everything is gone, and for a tenant that never had storage', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200 });
    efs.on(DescribeAccessPointsCommand).resolves({ AccessPoints: [accessPoint('fsap-0other00000000001', 'globex')] });
    ecs.on(ListTaskDefinitionsCommand).resolves({ taskDefinitionArns: [] });

    await storage().remove('acme');
    await storage().remove('acme');

    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 2);
    expect(efs).not.toHaveReceivedCommand(DeleteAccessPointCommand);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
    expect(ecs).not.toHaveReceivedCommand(DeleteTaskDefinitionsCommand);
  });

  it('takes an access point deleted meanwhile as deleted', async () => {
    givenTenantResources();
    efs.on(DeleteAccessPointCommand).rejects(notFound());

    await expect(storage().remove('acme')).resolves.toBeUndefined();
    expect(ecs).toHaveReceivedCommandTimes(DeregisterTaskDefinitionCommand, 2);
  });

  it('fails, and deletes nothing more, when the cleaner function fails', async () => {
    givenTenantResources();
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload('{"errorMessage":"EACCES: permission denied"}'),
    });

    const error = await storage()
      .remove('acme')
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DataCleanerError);
    expect((error as Error).message).toContain('EACCES: permission denied');
    expect(efs).not.toHaveReceivedCommand(DeleteAccessPointCommand);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
  });

  it('stops waiting for the data function after removeWaitMs and fails as not done yet, deleting nothing more', async () => {
    givenTenantResources();
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => {}));
    const slow = new EfsStorage({
      efsClient: new EFSClient({ region: 'eu-west-1' }),
      ecsClient: new ECSClient({ region: 'eu-west-1' }),
      lambdaClient: new LambdaClient({ region: 'eu-west-1' }),
      installation: INSTALLATION,
      fileSystemId: FILE_SYSTEM,
      baseTaskDefinition: BASE,
      containerName: 'app',
      dataPath: '/data',
      dataFunction: CLEANER,
      removeWaitMs: 20,
    });

    const error = await slow.remove('acme').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DataCleanerError);
    expect((error as DataCleanerError).functionError).toBe('StillRunning');
    expect(efs).not.toHaveReceivedCommand(DeleteAccessPointCommand);
    expect(ecs).not.toHaveReceivedCommand(DeregisterTaskDefinitionCommand);
  });
});

describe('EfsStorage.managedTenants', () => {
  it("lists the tenants of this installation's access points and task definition families, and no other installation's", async () => {
    // Prepare
    efs
      .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: undefined })
      .resolves({ AccessPoints: [accessPoint('fsap-1', 'acme'), accessPoint('fsap-2', 'beta', 'stage')], NextToken: 'page-2' })
      .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: 'page-2' })
      .resolves({ AccessPoints: [accessPoint('fsap-3', 'globex'), { ...accessPoint('fsap-4', 'untagged'), Tags: [] }] });
    ecs.on(ListTaskDefinitionFamiliesCommand).resolves({ families: ['dm-prod-acme', 'dm-prod-initech', 'dm-prod-hooli'] });
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: 'dm-prod-initech' }).resolves({ taskDefinition: {}, tags: owner('initech') });
    ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: 'dm-prod-hooli' })
      .resolves({ taskDefinition: {}, tags: owner('hooli', 'stage') });

    // Act
    const tenants = await storage().managedTenants();

    // Assess
    expect(tenants).toEqual(['acme', 'globex', 'initech']);
    // The paginator sends its page size and token even when unset.
    expect(efs.commandCalls(DescribeAccessPointsCommand).map((call) => call.args[0].input)).toStrictEqual([
      { FileSystemId: FILE_SYSTEM, MaxResults: undefined, NextToken: undefined },
      { FileSystemId: FILE_SYSTEM, MaxResults: undefined, NextToken: 'page-2' },
    ]);
    expect(ecs).toHaveReceivedCommandWith(ListTaskDefinitionFamiliesCommand, { familyPrefix: 'dm-prod-', status: 'ACTIVE' });
    // acme's family is accounted for by its access point: no read for it.
    expect(ecs).toHaveReceivedCommandTimes(DescribeTaskDefinitionCommand, 2);
    expect(ecs).not.toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, { taskDefinition: 'dm-prod-acme' });
  });
});

describe('EfsStorage: data size', () => {
  it('asks the data function for the size of the tenant’s files, once, and nothing else', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('{"bytes":1048576}') });

    const bytes = await storage().dataBytes('acme');

    expect(bytes).toEqual({ bytes: 1_048_576 });
    expect(lambda.commandCalls(InvokeCommand).map((call) => call.args[0].input)).toStrictEqual([
      { FunctionName: CLEANER, InvocationType: 'RequestResponse', Payload: '{"action":"size","tenantId":"acme"}' },
    ]);
    expect(efs.calls()).toHaveLength(0);
    expect(ecs.calls()).toHaveLength(0);
  });

  it('passes on a size the function measured in part as a lower bound', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload('{"bytes":2048,"lowerBound":true}') });

    expect(await storage().dataBytes('acme')).toEqual({ bytes: 2048, lowerBound: true });
  });

  it('fails, naming the tenant, when the function fails or answers without a size', async () => {
    lambda
      .on(InvokeCommand)
      .resolvesOnce({ StatusCode: 200, FunctionError: 'Unhandled', Payload: payload('{"errorMessage":"EIO"}') })
      .resolves({ StatusCode: 200, Payload: payload('{"removed":true}') });

    await expect(storage().dataBytes('acme')).rejects.toThrow(/tenant "acme" \(Unhandled\)/);
    await expect(storage().dataBytes('acme')).rejects.toThrow(/tenant "acme" \(NoSize\)/);
  });
});
