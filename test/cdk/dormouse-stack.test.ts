import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { CATCH_ALL_RULE_PRIORITY } from '../../shared/adapters/aws/elb-routing.js';
import { createTenantTableInput, createIdempotencyTableInput } from '../../shared/adapters/aws/tenant-table.js';
import {
  loadApiConfig,
  loadReconcilerConfig,
  loadStreamPublisherConfig,
  loadSweepConfig,
  loadWakeConfig,
  unknownSettings,
} from '../../shared/config.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';
import { wakeTimeout } from '../../cdk/constructs/control-plane.js';
import {
  CERTIFICATE_ARN,
  PRODUCTION_CONFIG,
  asArray,
  functionId,
  functionStatements,
  identityStatements,
  onlyResource,
  referencedId,
  resolveForTest,
  resolvePlausibly,
  resourcesOf,
  synthesize,
  type CfnResource,
  type PolicyStatementJson,
  type Synthesized,
} from './support.js';

/**
 * The stack as a production install synthesizes it (certificate, hosted zone, alarm email, a
 * new VPC), built once, bundles included, with cdk-nag on as in `cdk synth`.
 */
let synth: Synthesized;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  synth = synthesize(PRODUCTION_CONFIG, { bundle: true });
  resources = synth.template.toJSON().Resources;
}, 120_000);

afterAll(() => synth?.cleanup());

const execFileAsync = promisify(execFile);
const ofType = (type: string) => resourcesOf(synth.template, type);
/** The bundle a function's asset holds, as CDK would upload it. */
const assetFile = (fn: CfnResource) => join(synth.outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`, 'index.mjs');
const byId = (id: string) => resources[id] as CfnResource;

describe('the tenant table', () => {
  it('has the keys, indexes and stream of createTenantTableInput, the shape the adapter and DynamoDB Local use', () => {
    // Prepare
    const expected = createTenantTableInput('ignored');
    const table = Object.values(ofType('AWS::DynamoDB::Table')).find((t) =>
      t.Properties.KeySchema.some((k: { AttributeName: string }) => k.AttributeName === 'pk'),
    );
    const sortByName = <T extends { AttributeName?: string; IndexName?: string }>(items: T[] = []) =>
      [...items].sort((a, b) => String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)));

    // Act
    const actual = {
      BillingMode: table?.Properties.BillingMode,
      AttributeDefinitions: sortByName(table?.Properties.AttributeDefinitions),
      KeySchema: table?.Properties.KeySchema,
      GlobalSecondaryIndexes: sortByName(table?.Properties.GlobalSecondaryIndexes),
      StreamSpecification: { StreamEnabled: true, ...table?.Properties.StreamSpecification },
    };

    // Assess
    expect(actual).toEqual({
      BillingMode: expected.BillingMode,
      AttributeDefinitions: sortByName(expected.AttributeDefinitions),
      KeySchema: expected.KeySchema,
      GlobalSecondaryIndexes: sortByName(expected.GlobalSecondaryIndexes),
      StreamSpecification: expected.StreamSpecification,
    });
  });

  it('is on demand, with point-in-time recovery, TTL on expiresAt, and kept when the stack is deleted', () => {
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('protects both tables from deletion, by the stack or by hand', () => {
    const tables = Object.values(ofType('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(2);
    for (const table of tables) {
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
      expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('has an idempotency table in the Powertools layout, expiring records by TTL, with no backups to outlive the TTL', () => {
    const expected = createIdempotencyTableInput('ignored');
    synth.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: expected.KeySchema,
      AttributeDefinitions: expected.AttributeDefinitions,
      BillingMode: expected.BillingMode,
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      // Its records are replayable signup answers, tokens included: no point-in-time recovery.
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
    });
  });
});

describe('the tenant cluster', () => {
  it('offers FARGATE and FARGATE_SPOT capacity providers', () => {
    const [, association] = onlyResource(synth.template, 'AWS::ECS::ClusterCapacityProviderAssociations');
    expect(association.Properties.CapacityProviders).toEqual(expect.arrayContaining(['FARGATE', 'FARGATE_SPOT']));
    expect(association.Properties.CapacityProviders).toHaveLength(2);
  });

  it('runs the tenant task on arm64 (Graviton, which Fargate Spot runs too) with the demo image, port and size', () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    expect(taskDefinition.Properties).toMatchObject({
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Cpu: '256',
      Memory: '512',
      ContainerDefinitions: [
        {
          Name: 'app',
          PortMappings: [{ ContainerPort: 80, Protocol: 'tcp' }],
          LogConfiguration: { LogDriver: 'awslogs' },
        },
      ],
    });
    // The demo is told the container port and where its data is; TENANT_ID/TENANT_HOST are set per task.
    expect(taskDefinition.Properties.ContainerDefinitions[0].Environment).toEqual([
      { Name: 'PORT', Value: '80' },
      { Name: 'DATA_DIR', Value: '/data' },
    ]);
  });

  it('builds the default image from demo/ as an image asset on an ECR Public base, never from Docker Hub', () => {
    // Prepare
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    const image = JSON.stringify(taskDefinition.Properties.ContainerDefinitions[0].Image);
    const assets = JSON.parse(readFileSync(join(synth.outdir, 'Dormouse.assets.json'), 'utf8')) as {
      dockerImages: Record<
        string,
        { source: { directory: string; platform?: string }; destinations: Record<string, { imageTag: string }> }
      >;
    };

    // Act
    const [[hash, asset]] = Object.entries(assets.dockerImages) as [[string, (typeof assets.dockerImages)[string]]];
    const staged = join(synth.outdir, asset.source.directory);
    const dockerfile = readFileSync(join(staged, 'Dockerfile'), 'utf8');

    // Assess: pulled from the bootstrap ECR repository, staged at synth (no Docker), built for arm64.
    expect(image).toMatch(new RegExp(`\\.dkr\\.ecr\\..*/cdk-[a-z0-9]+-container-assets-.*:${hash}"`));
    expect(asset.source.platform).toBe('linux/arm64');
    expect(readdirSync(staged).sort()).toEqual(['.dockerignore', 'Dockerfile', 'whoami.mjs']);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/docker\/library\/node:\S+$/m);
    expect(dockerfile).toMatch(/HOST=0\.0\.0\.0/);
    expect(readFileSync(join(staged, 'whoami.mjs'), 'utf8')).toBe(readFileSync(new URL('../../demo/whoami.mjs', import.meta.url), 'utf8'));
  });

  it("gives tenant tasks a role with no AWS API permission, only mounting the tenant file system through a mount target, never through the data function's access point", () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    const taskRoleId = referencedId(taskDefinition.Properties.TaskRoleArn);
    const [fileSystemId] = onlyResource(synth.template, 'AWS::EFS::FileSystem');
    const [dataFunctionAccessPoint] = onlyResource(synth.template, 'AWS::EFS::AccessPoint');
    const attached = Object.values(ofType('AWS::IAM::Policy')).filter((policy) =>
      (policy.Properties.Roles as unknown[]).some((role) => referencedId(role) === taskRoleId),
    );
    expect(attached.flatMap((policy) => policy.Properties.PolicyDocument.Statement)).toEqual([
      {
        Sid: 'MountTenantData',
        Effect: 'Allow',
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        Resource: { 'Fn::GetAtt': [fileSystemId, 'Arn'] },
        Condition: {
          Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
          StringNotEquals: {
            'elasticfilesystem:AccessPointArn': {
              'Fn::Join': [
                '',
                ['arn:aws:elasticfilesystem:us-east-1:', { Ref: 'AWS::AccountId' }, ':access-point/', { Ref: dataFunctionAccessPoint }],
              ],
            },
          },
        },
      },
    ]);
    expect(byId(taskRoleId as string).Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('lets only the load balancer reach tenant tasks, only on the app port, and tenants not each other', () => {
    // Prepare
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    expect(taskDefinition).toBeDefined();
    const reconcile = byId(functionId(synth.template, 'dormouse-reconcile'));
    const tenantGroupId = referencedId(reconcile.Properties.Environment.Variables.DORMOUSE_SECURITY_GROUPS) as string;
    const [albId, alb] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const albGroupId = referencedId(alb.Properties.SecurityGroups[0]) as string;
    expect(albId).toBeDefined();

    // Act
    const ingressToTenants = Object.values(ofType('AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => referencedId(rule.Properties.GroupId) === tenantGroupId,
    );

    // Assess
    expect(byId(tenantGroupId).Properties.SecurityGroupIngress).toBeUndefined();
    expect(ingressToTenants).toHaveLength(1);
    expect(ingressToTenants[0]?.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 80, ToPort: 80 });
    expect(referencedId(ingressToTenants[0]?.Properties.SourceSecurityGroupId)).toBe(albGroupId);
    // The load balancer may send to tenants on the app port and nowhere else.
    const albEgress = Object.values(ofType('AWS::EC2::SecurityGroupEgress')).filter(
      (rule) => referencedId(rule.Properties.GroupId) === albGroupId,
    );
    expect(albEgress.map((rule) => [referencedId(rule.Properties.DestinationSecurityGroupId), rule.Properties.FromPort])).toEqual([
      [tenantGroupId, 80],
    ]);
    expect(byId(albGroupId).Properties.SecurityGroupEgress).toBeUndefined();
  });

  it('puts tenant tasks in the private subnets of a new VPC over the configured zones', () => {
    const reconcile = byId(functionId(synth.template, 'dormouse-reconcile'));
    const subnetIds = resolveForTest(reconcile.Properties.Environment.Variables.DORMOUSE_SUBNETS).split(',');
    expect(subnetIds).toHaveLength(2);
    for (const id of subnetIds) expect(byId(id).Properties.MapPublicIpOnLaunch).toBe(false);
    expect(subnetIds.map((id) => byId(id).Properties.AvailabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b']);
    expect(reconcile.Properties.Environment.Variables.DORMOUSE_ASSIGN_PUBLIC_IP).toBe('false');
  });
});

describe('the load balancer', () => {
  it('serves HTTPS with the configured certificate and redirects HTTP to it', () => {
    synth.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
    });
    synth.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }],
    });
  });

  it('sends *.<domain> hosts without a tenant rule to the wake function, by the last rule, and answers any other host 404', () => {
    // Prepare
    const wakeId = functionId(synth.template, 'dormouse-wake');
    const [listenerId, listener] = Object.entries(ofType('AWS::ElasticLoadBalancingV2::Listener')).find(
      ([, candidate]) => candidate.Properties.Protocol === 'HTTPS',
    ) as [string, CfnResource];

    // Act
    const rules = Object.values(ofType('AWS::ElasticLoadBalancingV2::ListenerRule'));
    const [catchAll, ...otherRules] = rules;
    const targetGroup = byId(referencedId(catchAll?.Properties.Actions[0].TargetGroupArn) as string);

    // Assess: the default action is a plain 404 that names nothing; the only rule is the catch-all.
    expect(listener.Properties.DefaultActions).toEqual([
      { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'Not Found' } },
    ]);
    expect(otherRules).toEqual([]);
    expect(catchAll?.Properties).toEqual({
      ListenerArn: { Ref: listenerId },
      Priority: CATCH_ALL_RULE_PRIORITY,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['*.trials.example.com'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: expect.anything() }],
    });
    expect(targetGroup.Properties).toMatchObject({
      TargetType: 'lambda',
      Targets: [{ Id: { 'Fn::GetAtt': [wakeId, 'Arn'] } }],
      TargetGroupAttributes: [{ Key: 'lambda.multi_value_headers.enabled', Value: 'false' }],
    });
    const actionTypes = Object.values(ofType('AWS::ElasticLoadBalancingV2::Listener')).flatMap((l) =>
      l.Properties.DefaultActions.map((a: { Type: string }) => a.Type),
    );
    expect(actionTypes.sort()).toEqual(['fixed-response', 'redirect']);
  });

  it('lets only that target group, in this account, invoke the wake function, and makes the group once it may', () => {
    // Prepare
    const wakeId = functionId(synth.template, 'dormouse-wake');
    const [, targetGroup] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::TargetGroup');

    // Act
    const permissions = Object.entries(ofType('AWS::Lambda::Permission')).filter(
      ([, candidate]) => candidate.Properties.Principal === 'elasticloadbalancing.amazonaws.com',
    );

    // Assess
    expect(permissions).toHaveLength(1);
    const [[permissionId, permission]] = permissions as [[string, CfnResource]];
    expect(permission.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [wakeId, 'Arn'] },
      Principal: 'elasticloadbalancing.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: expect.anything(),
    });
    expect(targetGroup.Properties.Name).toMatch(/^[A-Za-z0-9-]{1,32}$/);
    expect(targetGroup.Properties.Name).not.toMatch(/^dm-/);
    expect(resolveForTest(permission.Properties.SourceArn)).toBe(
      `arn:aws:elasticloadbalancing:us-east-1:AWS::AccountId:targetgroup/${targetGroup.Properties.Name}/*`,
    );
    expect(targetGroup.DependsOn).toContain(permissionId);
  });

  it('writes access logs to an encrypted, TLS-only, private bucket of its own whose logs expire', () => {
    // Prepare
    const [bucketId, bucket] = Object.entries(ofType('AWS::S3::Bucket')).find(([id]) => id.startsWith('LoadBalancerAccessLogs'))!;
    const policy = Object.values(ofType('AWS::S3::BucketPolicy')).find((p) => referencedId(p.Properties.Bucket) === bucketId)!;
    const [, alb] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');

    // Assess
    expect(alb.Properties.LoadBalancerAttributes).toEqual(
      expect.arrayContaining([
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: bucketId } },
        { Key: 'access_logs.s3.prefix', Value: 'dormouse' },
      ]),
    );
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 90, Status: 'Enabled', Id: 'ExpireAccessLogs' }] },
    });
    expect(bucket).toMatchObject({ DeletionPolicy: 'Retain' });
    const statements = policy.Properties.PolicyDocument.Statement as PolicyStatementJson[];
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    // us-east-1's ELB log delivery account may write under the prefix, and nothing else may write.
    const writers = statements.filter((s) => s.Effect === 'Allow' && asArray(s.Action).includes('s3:PutObject'));
    expect(writers.map((s) => s.Principal)).toEqual(expect.arrayContaining([{ AWS: 'arn:aws:iam::127311923021:root' }]));
    for (const writer of writers) expect(resolveForTest(writer.Resource)).toMatch(/\/dormouse\/AWSLogs\/AWS::AccountId\/\*$/);
  });

  it('adds a wildcard alias record for tenant hosts in the given zone', () => {
    synth.template.hasResourceProperties('AWS::Route53::RecordSet', {
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      Name: '*.trials.example.com.',
      Type: 'A',
      AliasTarget: Match.objectLike({ DNSName: Match.anyValue() }),
    });
  });

  it('tells the reconciler the HTTPS listener, where tenant host rules go', () => {
    const [listenerId] = Object.entries(ofType('AWS::ElasticLoadBalancingV2::Listener')).find(
      ([, listener]) => listener.Properties.Protocol === 'HTTPS',
    ) as [string, CfnResource];
    const reconcile = byId(functionId(synth.template, 'dormouse-reconcile'));
    expect(referencedId(reconcile.Properties.Environment.Variables.DORMOUSE_LISTENER_ARN)).toBe(listenerId);
  });
});

describe('IAM', () => {
  /**
   * Statements allowed to write to "*", by Sid, each with the reason AWS leaves no narrower
   * scope: the task definitions of tenants with persistent data.
   */
  const WILDCARD_WRITES_ALLOWED: Record<string, string> = {
    RegisterTenantTaskDefinitions:
      'ecs:RegisterTaskDefinition has no resource-level scope; its aws:RequestTag condition holds it to this installation.',
    RemoveTenantTaskDefinitions: 'ecs:DeregisterTaskDefinition and ecs:DeleteTaskDefinitions have no resource-level scope.',
  };
  const isRead = (action: string) => /^[a-z0-9-]+:(Describe|List|Get)/.test(action);

  it('grants no write action on "*" and no wildcard action anywhere', () => {
    const offending = identityStatements(synth.template)
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ policy, statement }) => {
        const actions = asArray(statement.Action);
        const problems: string[] = actions.filter((action) => action.includes('*')).map((action) => `${policy}: wildcard action ${action}`);
        const writes = actions.filter((action) => !isRead(action));
        if (
          writes.length > 0 &&
          asArray(statement.Resource).includes('*') &&
          !(statement.Sid && statement.Sid in WILDCARD_WRITES_ALLOWED)
        ) {
          problems.push(`${policy} ${statement.Sid ?? ''}: ${writes.join(', ')} on "*"`);
        }
        return problems;
      });
    expect(offending).toEqual([]);
  });

  it('lets the reconciler run only the tenant task definition, only in this cluster, only tagged with this installation', () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const runTask = statements.filter((s) => asArray(s.Action).includes('ecs:RunTask'));
    expect(runTask).toHaveLength(1);
    // The installation's own tenant families too (see tenant storage).
    expect(asArray(runTask[0]?.Resource).map(resolveForTest)[0]).toMatch(/:task-definition\/Dormouse-tenant:\*$/);
    expect(referencedId(runTask[0]?.Condition?.ArnEquals?.['ecs:cluster'])).toBe(clusterId());
    expect(runTask[0]?.Condition?.StringEquals).toEqual({ 'aws:RequestTag/dormouse:installation': synth.stack.installation });
    for (const action of ['ecs:StopTask', 'ecs:DescribeTasks', 'ecs:ListTasks']) {
      const statement = statements.find((s) => asArray(s.Action).includes(action));
      expect(referencedId(statement?.Condition?.ArnEquals?.['ecs:cluster']), action).toBe(clusterId());
    }
    const tag = statements.find((s) => asArray(s.Action).includes('ecs:TagResource'));
    expect(tag?.Condition).toEqual({
      StringEquals: { 'ecs:CreateAction': 'RunTask', 'aws:RequestTag/dormouse:installation': synth.stack.installation },
    });
  });

  it("lets the reconciler stop only tasks tagged with this installation, in a statement of StopTask's own", () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const stop = statements.filter((s) => asArray(s.Action).includes('ecs:StopTask'));
    expect(stop).toHaveLength(1);
    expect(asArray(stop[0]?.Action)).toEqual(['ecs:StopTask']);
    expect(stop[0]?.Condition?.StringEquals).toEqual({ 'aws:ResourceTag/dormouse:installation': synth.stack.installation });
  });

  it('lets the reconciler pass only the tenant task and execution roles, and only to ECS tasks', () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const passRole = statements.filter((s) => asArray(s.Action).includes('iam:PassRole'));
    expect(passRole).toHaveLength(1);
    expect(asArray(passRole[0]?.Resource).map(referencedId).sort()).toEqual(
      [referencedId(taskDefinition.Properties.TaskRoleArn), referencedId(taskDefinition.Properties.ExecutionRoleArn)].sort(),
    );
    expect(passRole[0]?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it("holds the reconciler's ELBv2 writes to this load balancer's listener and rules and to this installation's target groups, by name and by tag", () => {
    // Prepare
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const [albId] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const resourcesFor = (action: string) =>
      statements.filter((s) => asArray(s.Action).includes(`elasticloadbalancing:${action}`)).flatMap((s) => asArray(s.Resource));

    // Act
    const createRule = resourcesFor('CreateRule');
    const deleteRule = resourcesFor('DeleteRule').map(resolveForTest);
    const targetGroupWrites = [
      'CreateTargetGroup',
      'DeleteTargetGroup',
      'ModifyTargetGroupAttributes',
      'RegisterTargets',
      'DeregisterTargets',
    ].map((action) => resourcesFor(action).map(resolveForTest));

    // Assess
    const installation = synth.stack.installation;
    expect(createRule.map(referencedId)).toEqual([httpsListenerId()]);
    expect(deleteRule).toEqual([expect.stringMatching(new RegExp(`:listener-rule/${albId}/\\*/\\*$`))]);
    for (const resourcesOfAction of targetGroupWrites) {
      expect(resourcesOfAction).toEqual([expect.stringMatching(new RegExp(`:targetgroup/dm-${installation}-\\*/\\*$`))]);
    }
    const conditionOf = (action: string) => statements.find((s) => asArray(s.Action).includes(`elasticloadbalancing:${action}`))?.Condition;
    // What it creates must carry the installation tag...
    for (const action of ['CreateTargetGroup', 'CreateRule']) {
      expect(conditionOf(action), action).toEqual({ StringEquals: { 'aws:RequestTag/dormouse:installation': installation } });
    }
    expect(conditionOf('AddTags')).toEqual({
      StringEquals: {
        'elasticloadbalancing:CreateAction': ['CreateTargetGroup', 'CreateRule'],
        'aws:RequestTag/dormouse:installation': installation,
      },
    });
    // ...and what it changes or deletes must already carry it.
    for (const action of ['DeleteTargetGroup', 'ModifyTargetGroupAttributes', 'RegisterTargets', 'DeregisterTargets', 'DeleteRule']) {
      expect(conditionOf(action), action).toEqual({ StringEquals: { 'aws:ResourceTag/dormouse:installation': installation } });
    }
  });

  it('tells the reconcile and sweep functions the installation id, derived from the stack name when cdk.json sets none', () => {
    expect(synth.stack.installation).toMatch(/^[a-z][a-z0-9]{0,6}$/);
    for (const name of ['dormouse-reconcile', 'dormouse-sweep']) {
      const fn = byId(functionId(synth.template, name));
      expect(fn.Properties.Environment.Variables.DORMOUSE_INSTALLATION, name).toBe(synth.stack.installation);
    }
  });

  it('lets the stream publisher put events on the dormouse bus only, and keep timelines, and nothing else but its logs', () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-stream-publisher'));
    const [busId] = onlyResource(synth.template, 'AWS::Events::EventBus');
    const putEvents = statements.filter((s) => asArray(s.Action).includes('events:PutEvents'));
    expect(putEvents.map((s) => referencedId(s.Resource))).toEqual([busId]);
    const timelines = statements.filter((s) => s.Sid === 'TenantTimelines');
    expect(timelines).toHaveLength(1);
    // Only the timeline items of the tenant table: never a tenant record, claim or counter.
    expect(timelines[0]?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['timeline#*'] } });
    const others = statements
      .filter((s) => s.Sid !== 'TenantTimelines')
      .flatMap((s) => asArray(s.Action))
      .filter((a) => !a.startsWith('logs:') && a !== 'events:PutEvents');
    expect(others).toEqual([]);
  });

  it('lets the sweep do what the reconciler does, with the very same statements, and read ALB metrics', () => {
    // Prepare
    // Each function's own log group, and the reconcile function's own dead-letter queue, aside.
    const reconcilerWork = (statements: PolicyStatementJson[]) =>
      statements.filter((s) => !asArray(s.Action).every((a) => a.startsWith('logs:') || a.startsWith('sqs:')));
    const reconcile = reconcilerWork(functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile')));
    const sweep = reconcilerWork(functionStatements(synth.template, functionId(synth.template, 'dormouse-sweep')));

    // Act
    const beyondReconcile = sweep.filter((s) => !reconcile.some((r) => JSON.stringify(r) === JSON.stringify(s)));

    // Assess
    expect(sweep).toEqual(expect.arrayContaining(reconcile));
    expect(beyondReconcile).toEqual([{ Sid: 'ReadTenantActivity', Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' }]);
  });

  it('gives the sweep GetMetricData on "*" and no other action on "*" but reads and the task definitions ECS cannot scope', () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-sweep'));
    const onAnything = statements.filter((s) => asArray(s.Resource).includes('*') && !(s.Sid && s.Sid in WILDCARD_WRITES_ALLOWED));
    expect(onAnything.flatMap((s) => asArray(s.Action))).toContain('cloudwatch:GetMetricData');
    expect(onAnything.flatMap((s) => asArray(s.Action)).filter((action) => !isRead(action))).toEqual([]);
  });

  it('lets the wake function read tenant records and the slot counter, query the indexes, and put nothing but tenant records and the recent wake times', () => {
    // Prepare
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-wake')).filter(
      (s) => !asArray(s.Action).every((a) => a.startsWith('logs:')),
    );
    const tenantTableId = Object.entries(ofType('AWS::DynamoDB::Table')).find(([, t]) => t.Properties.StreamSpecification)?.[0];
    const indexNames = createTenantTableInput('ignored').GlobalSecondaryIndexes?.map((index) => index.IndexName) ?? [];

    // Act
    const grants = statements.flatMap((s) =>
      asArray(s.Action).flatMap((action) =>
        asArray(s.Resource).map((resource) => `${action} ${resolveForTest(resource)} ${JSON.stringify(s.Condition ?? {})}`),
      ),
    );

    // Assess: by partition key, the item writes reach tenant records and the recent wake times
    // only (no email claim, counter or marker), and the reads those and the routing slot counter.
    const wakeTimes = JSON.stringify({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['stats#wake-times'] } });
    expect(grants.sort()).toEqual(
      [
        `dynamodb:GetItem ${tenantTableId} ${JSON.stringify({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tenant#*', 'counter#routing'] } })}`,
        `dynamodb:PutItem ${tenantTableId} ${JSON.stringify({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tenant#*'] } })}`,
        `dynamodb:GetItem ${tenantTableId} ${wakeTimes}`,
        `dynamodb:PutItem ${tenantTableId} ${wakeTimes}`,
        ...indexNames.map((name) => `dynamodb:Query ${tenantTableId}/index/${name} {}`),
      ].sort(),
    );
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  });

  it('lets the API use the tenant and idempotency tables, the task-events and wake functions the tenant table, and nothing in ECS or ELB', () => {
    const tableIds = Object.keys(ofType('AWS::DynamoDB::Table'));
    for (const [service, expectedTables] of [
      ['dormouse-api', 2],
      ['dormouse-task-events', 1],
      ['dormouse-wake', 1],
    ] as const) {
      const statements = functionStatements(synth.template, functionId(synth.template, service));
      const actions = statements.flatMap((s) => asArray(s.Action));
      expect(
        actions.filter((a) => /^(ecs|elasticloadbalancing|iam|events):/.test(a)),
        service,
      ).toEqual([]);
      const tables = new Set(
        statements
          .filter((s) => asArray(s.Action).some((a) => a.startsWith('dynamodb:')))
          .flatMap((s) => asArray(s.Resource).map((r) => referencedId(r) ?? resolveForTest(r).split('/')[0])),
      );
      expect(
        [...tables].every((id) => tableIds.includes(id as string)),
        service,
      ).toBe(true);
      expect(tables.size, service).toBe(expectedTables);
    }
  });

  it('lets the API read the tenant log group only, and tells it the group', () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-api'));
    const logs = statements.filter((s) => asArray(s.Action).includes('logs:FilterLogEvents'));
    const [groupId] = Object.entries(ofType('AWS::Logs::LogGroup')).find(([id]) => id.includes('TenantLogs')) ?? [];

    expect(logs).toHaveLength(1);
    expect(asArray(logs[0]!.Action)).toEqual(['logs:FilterLogEvents']);
    expect(asArray(logs[0]!.Resource).map((r) => referencedId(r))).toEqual([groupId]);
    expect(byId(functionId(synth.template, 'dormouse-api')).Properties.Environment.Variables.DORMOUSE_TENANT_LOG_GROUP).toEqual({
      Ref: groupId,
    });
  });

  it('lets the API send mail through SES only as the configured sender', () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-api'));
    const ses = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('ses:')));

    expect(ses).toHaveLength(1);
    expect(asArray(ses[0]!.Action)).toEqual(['ses:SendEmail']);
    expect(asArray(ses[0]!.Resource).map((r) => resolveForTest(r))).toEqual([
      expect.stringMatching(/:ses:us-east-1:\d{12}:identity\/no-reply@trials\.example\.com$|identity\/no-reply@trials\.example\.com$/),
      expect.stringMatching(/identity\/trials\.example\.com$/),
    ]);
    expect(ses[0]!.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'no-reply@trials.example.com' } });
  });

  function clusterId(): string {
    return Object.keys(ofType('AWS::ECS::Cluster'))[0] as string;
  }
  function httpsListenerId(): string {
    return Object.entries(ofType('AWS::ElasticLoadBalancingV2::Listener')).find(
      ([, listener]) => listener.Properties.Protocol === 'HTTPS',
    )?.[0] as string;
  }
});

describe('events', () => {
  it('reconciles on Tenant Changed from the dormouse custom bus', () => {
    const [busId, bus] = onlyResource(synth.template, 'AWS::Events::EventBus');
    expect(bus.Properties.Name).toBe('dormouse');
    const rule = Object.values(ofType('AWS::Events::Rule')).find((r) =>
      r.Properties.EventPattern['detail-type']?.includes('Tenant Changed'),
    );
    expect(rule?.Properties.EventPattern).toEqual({ source: ['dormouse'], 'detail-type': ['Tenant Changed'] });
    expect(referencedId(rule?.Properties.EventBusName)).toBe(busId);
    expect(referencedId(rule?.Properties.Targets[0].Arn)).toBe(functionId(synth.template, 'dormouse-reconcile'));
  });

  it('records actual state from ECS Task State Change events on the default bus, of this cluster only', () => {
    const rule = Object.values(ofType('AWS::Events::Rule')).find((r) => r.Properties.EventPattern.source?.includes('aws.ecs'));
    const [clusterId] = onlyResource(synth.template, 'AWS::ECS::Cluster');
    expect(rule?.Properties.EventBusName).toBeUndefined();
    expect(rule?.Properties.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { clusterArn: [{ 'Fn::GetAtt': [clusterId, 'Arn'] }] },
    });
    expect(referencedId(rule?.Properties.Targets[0].Arn)).toBe(functionId(synth.template, 'dormouse-task-events'));
  });

  it('pipes the tenant table stream, tenant records only, to the stream publisher, with a dead-letter queue', () => {
    // Prepare
    const [, pipe] = onlyResource(synth.template, 'AWS::Pipes::Pipe');
    const tenantTableId = Object.entries(ofType('AWS::DynamoDB::Table')).find(([, t]) => t.Properties.StreamSpecification)?.[0];

    // Act
    const { Source, Target, SourceParameters } = pipe.Properties;

    // Assess
    expect(Source).toEqual({ 'Fn::GetAtt': [tenantTableId, 'StreamArn'] });
    expect(referencedId(Target)).toBe(functionId(synth.template, 'dormouse-stream-publisher'));
    expect(SourceParameters.FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern))).toEqual([
      { dynamodb: { NewImage: { kind: { S: ['tenant'] } } } },
    ]);
    const dlqId = referencedId(SourceParameters.DynamoDBStreamParameters.DeadLetterConfig.Arn) as string;
    expect(byId(dlqId).Type).toBe('AWS::SQS::Queue');
    expect(SourceParameters.DynamoDBStreamParameters).toMatchObject({
      StartingPosition: 'TRIM_HORIZON',
      MaximumRetryAttempts: expect.any(Number),
      OnPartialBatchItemFailure: 'AUTOMATIC_BISECT',
    });
  });

  it('gives the pipe a role that reads the stream, invokes the publisher and sends to its DLQ, nothing more', () => {
    const [, pipe] = onlyResource(synth.template, 'AWS::Pipes::Pipe');
    const roleId = referencedId(pipe.Properties.RoleArn);
    const actions = Object.values(ofType('AWS::IAM::Policy'))
      .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => referencedId(role) === roleId))
      .flatMap((policy) => (policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]).flatMap((s) => asArray(s.Action)))
      .sort();
    expect(actions).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
      'lambda:InvokeFunction',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
    ]);
  });

  it('lets only this pipe, in this account, assume the pipe role', () => {
    // Prepare
    const [, pipe] = onlyResource(synth.template, 'AWS::Pipes::Pipe');
    const role = byId(referencedId(pipe.Properties.RoleArn) as string);

    // Act
    const trust = role.Properties.AssumeRolePolicyDocument.Statement as PolicyStatementJson[];

    // Assess
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'pipes.amazonaws.com' } });
    expect(trust[0]?.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' }, 'aws:SourceArn': expect.anything() },
    });
    expect(resolveForTest(trust[0]?.Condition?.StringEquals?.['aws:SourceArn'])).toBe(
      `arn:aws:pipes:us-east-1:AWS::AccountId:pipe/${pipe.Properties.Name}`,
    );
  });

  it('runs the sweep every minute on the dot from EventBridge Scheduler, once, with a dead-letter queue', () => {
    // Prepare
    const [, schedule] = onlyResource(synth.template, 'AWS::Scheduler::Schedule');

    // Act
    const { ScheduleExpression, FlexibleTimeWindow, State, Target } = schedule.Properties;

    // Assess
    expect({ ScheduleExpression, FlexibleTimeWindow, State }).toEqual({
      ScheduleExpression: 'rate(1 minute)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
    });
    expect(Target.Arn).toEqual({ 'Fn::GetAtt': [functionId(synth.template, 'dormouse-sweep'), 'Arn'] });
    expect(Target.RetryPolicy.MaximumRetryAttempts).toBe(0);
    expect(byId(referencedId(Target.DeadLetterConfig.Arn) as string).Type).toBe('AWS::SQS::Queue');
  });

  it('gives the schedule a role that only EventBridge Scheduler of this account may assume, and that may only invoke the sweep', () => {
    // Prepare
    const [, schedule] = onlyResource(synth.template, 'AWS::Scheduler::Schedule');
    const roleId = referencedId(schedule.Properties.Target.RoleArn) as string;
    const role = byId(roleId);

    // Act
    const statements = Object.values(ofType('AWS::IAM::Policy'))
      .filter((policy) => (policy.Properties.Roles as unknown[]).some((r) => referencedId(r) === roleId))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]);

    // Assess
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:SourceAccount': { Ref: 'AWS::AccountId' },
            'aws:SourceArn': { 'Fn::Join': ['', ['arn:aws:scheduler:us-east-1:', { Ref: 'AWS::AccountId' }, ':schedule-group/default']] },
          },
        },
      },
    ]);
    expect(statements.map((s) => [s.Effect, s.Action, s.Resource, s.Condition])).toEqual([
      ['Allow', 'lambda:InvokeFunction', { 'Fn::GetAtt': [functionId(synth.template, 'dormouse-sweep'), 'Arn'] }, undefined],
      ['Allow', 'sqs:SendMessage', schedule.Properties.Target.DeadLetterConfig.Arn, undefined],
    ]);
  });

  it('runs one sweep at a time, within two minutes, and drops rather than retries a failed or late run', () => {
    const sweepId = functionId(synth.template, 'dormouse-sweep');
    expect(byId(sweepId).Properties).toMatchObject({ Timeout: 120, ReservedConcurrentExecutions: 1 });
    const config = Object.values(ofType('AWS::Lambda::EventInvokeConfig')).find((c) => referencedId(c.Properties.FunctionName) === sweepId);
    expect(config?.Properties).toEqual({
      FunctionName: { Ref: sweepId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it('tells the operators when a tenant fails', () => {
    const rule = Object.values(ofType('AWS::Events::Rule')).find((r) =>
      r.Properties.EventPattern['detail-type']?.includes('Tenant Failed'),
    );
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    expect(referencedId(rule?.Properties.Targets[0].Arn)).toBe(topicId);
    expect(rule?.Properties.Targets[0]).toMatchObject({
      RetryPolicy: { MaximumRetryAttempts: 8 },
      DeadLetterConfig: { Arn: expect.anything() },
    });
  });

  it('lets EventBridge publish to the alarm topic only for that rule, in this account, and only over TLS', () => {
    // Prepare
    const [ruleId] = Object.entries(ofType('AWS::Events::Rule')).find(([, r]) =>
      r.Properties.EventPattern['detail-type']?.includes('Tenant Failed'),
    ) as [string, CfnResource];
    const [, policy] = onlyResource(synth.template, 'AWS::SNS::TopicPolicy');

    // Act
    const statements = policy.Properties.PolicyDocument.Statement as PolicyStatementJson[];
    const allows = statements.filter((s) => s.Effect === 'Allow');

    // Assess
    expect(allows).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Condition: {
          ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      }),
    ]);
    expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([
      expect.objectContaining({ Principal: '*', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]);
  });
});

describe('dead-letter queues and alarms', () => {
  it('ends every asynchronous path in a dead-letter queue', () => {
    const queueIds = Object.keys(ofType('AWS::SQS::Queue'));
    const used: string[] = [];
    for (const rule of Object.values(ofType('AWS::Events::Rule'))) {
      for (const target of rule.Properties.Targets) {
        expect(target.RetryPolicy?.MaximumRetryAttempts).toBeGreaterThan(0);
        used.push(referencedId(target.DeadLetterConfig?.Arn) as string);
      }
    }
    const functionsKeepingFailures = new Set<string>();
    for (const config of Object.values(ofType('AWS::Lambda::EventInvokeConfig'))) {
      // The sweep's runs are not messages: a failed one is neither retried nor kept (its errors alarm instead).
      if (!config.Properties.DestinationConfig) continue;
      functionsKeepingFailures.add(referencedId(config.Properties.FunctionName) as string);
      used.push(referencedId(config.Properties.DestinationConfig.OnFailure.Destination) as string);
    }
    const [, pipe] = onlyResource(synth.template, 'AWS::Pipes::Pipe');
    used.push(referencedId(pipe.Properties.SourceParameters.DynamoDBStreamParameters.DeadLetterConfig.Arn) as string);
    for (const schedule of Object.values(ofType('AWS::Scheduler::Schedule'))) {
      used.push(referencedId(schedule.Properties.Target.DeadLetterConfig?.Arn) as string);
    }

    // Every function an EventBridge rule invokes (asynchronously) keeps its failures too.
    const ruleTargets = Object.values(ofType('AWS::Events::Rule'))
      .flatMap((rule) => rule.Properties.Targets.map((t: { Arn: unknown }) => referencedId(t.Arn)))
      .filter((id) => byId(id as string).Type === 'AWS::Lambda::Function');
    expect([...functionsKeepingFailures].sort()).toEqual([...new Set(ruleTargets)].sort());
    expect(used.every((id) => queueIds.includes(id))).toBe(true);
    expect([...new Set(used)].sort()).toEqual([...queueIds].sort());
  });

  it('encrypts every queue and refuses it plain HTTP', () => {
    for (const [id, queue] of Object.entries(ofType('AWS::SQS::Queue'))) {
      expect(queue.Properties.SqsManagedSseEnabled ?? queue.Properties.KmsMasterKeyId, id).toBeTruthy();
      const policy = Object.values(ofType('AWS::SQS::QueuePolicy')).find((p) =>
        (p.Properties.Queues as unknown[]).some((q) => referencedId(q) === id),
      );
      expect(policy?.Properties.PolicyDocument.Statement, id).toEqual(
        expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      );
    }
  });

  it('alarms to the operators topic as soon as any dead-letter queue holds a message', () => {
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    const alarms = Object.values(ofType('AWS::CloudWatch::Alarm'));
    for (const queueId of Object.keys(ofType('AWS::SQS::Queue'))) {
      const alarm = alarms.find((a) => a.Properties.Dimensions?.some((d: { Value: unknown }) => referencedId(d.Value) === queueId));
      expect(alarm?.Properties, queueId).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
      });
      expect(alarm?.Properties.AlarmActions.map(referencedId)).toEqual([topicId]);
    }
    synth.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it.each([
    ['dormouse-sweep', 60],
    ['dormouse-wake', 300],
  ])('alarms to the operators topic when %s reports errors in 3 periods in a row', (service, period) => {
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    const fnId = functionId(synth.template, service);
    const alarms = Object.values(ofType('AWS::CloudWatch::Alarm')).filter(
      (a) =>
        a.Properties.Namespace === 'AWS/Lambda' && a.Properties.Dimensions?.some((d: { Value: unknown }) => referencedId(d.Value) === fnId),
    );
    expect(alarms.map((a) => a.Properties)).toEqual([
      expect.objectContaining({
        MetricName: 'Errors',
        Statistic: 'Sum',
        Period: period,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topicId }],
      }),
    ]);
  });
});

describe('the stuck-tenants alarm', () => {
  it('alarms to the operators topic as soon as the sweep reports a tenant stuck for longer than configured', () => {
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    const alarms = Object.values(ofType('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'TenantsStuck');

    expect(alarms.map((a) => a.Properties)).toEqual([
      expect.objectContaining({
        Namespace: 'Dormouse',
        // Powertools Metrics adds the service as a dimension; the sweep function publishes under its own.
        Dimensions: [{ Name: 'service', Value: 'dormouse-sweep' }],
        Statistic: 'Maximum',
        Period: 60,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: topicId }],
        AlarmDescription: expect.stringContaining('for more than 15 minutes'),
      }),
    ]);
    const sweep = byId(functionId(synth.template, 'dormouse-sweep'));
    expect(sweep.Properties.Environment.Variables).toMatchObject({ DORMOUSE_STUCK_MINUTES: '15', DORMOUSE_WARM_LEAD_MINUTES: '5' });
  });
});

describe('the HTTP API', () => {
  const PUBLIC = [
    'GET /',
    'GET /healthz',
    'GET /manage',
    'GET /plans',
    'POST /tenants',
    'GET /verify',
    'GET /tenants/{id}',
    'DELETE /tenants/{id}',
    'POST /tenants/{id}/passivate',
    'POST /tenants/{id}/wake',
    'POST /tenants/{id}/retry',
    'POST /tenants/{id}/export',
    'GET /tenants/{id}/usage',
    'GET /tenants/{id}/events',
    'GET /tenants/{id}/logs',
  ];
  const ADMIN = ['ANY /admin/{proxy+}', 'GET /tenants'];

  it('puts the admin routes behind the IAM authorizer and no authorizer on the public ones', () => {
    const routes = Object.fromEntries(
      Object.values(ofType('AWS::ApiGatewayV2::Route')).map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationType]),
    );
    expect(routes).toEqual({
      ...Object.fromEntries(PUBLIC.map((key) => [key, 'NONE'])),
      ...Object.fromEntries(ADMIN.map((key) => [key, 'AWS_IAM'])),
      // Unknown paths reach the handler for its JSON 404/405; it refuses admin paths without IAM context itself.
      $default: 'NONE',
    });
  });

  it('sends every route to the API function with payload format 2.0', () => {
    const [integrationId, integration] = onlyResource(synth.template, 'AWS::ApiGatewayV2::Integration');
    expect(integration.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    expect(integration.Properties.IntegrationUri).toEqual({ 'Fn::GetAtt': [functionId(synth.template, 'dormouse-api'), 'Arn'] });
    for (const route of Object.values(ofType('AWS::ApiGatewayV2::Route'))) {
      expect(route.Properties.Target).toEqual({ 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] });
    }
  });

  it('throttles the default stage as configured and keeps access logs', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
  });

  it('throttles signups far lower than status reads, each route on its own, and deploys the stage after the routes', () => {
    const [stageId, stage] = onlyResource(synth.template, 'AWS::ApiGatewayV2::Stage');
    expect(stage.Properties.RouteSettings).toEqual({
      'POST /tenants': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 5 },
      'GET /verify': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 5 },
      'GET /tenants/{id}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    const routes = Object.entries(ofType('AWS::ApiGatewayV2::Route'));
    const throttled = routes.filter(([, route]) => route.Properties.RouteKey in stage.Properties.RouteSettings);
    // Route settings may only name routes that exist, so each must exist before the stage.
    expect(throttled).toHaveLength(3);
    expect(resources[stageId]!.DependsOn).toEqual(expect.arrayContaining(throttled.map(([id]) => id)));
  });

  it('allows the signup page origin by CORS, without credentials', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://trials.example.com'],
        AllowCredentials: false,
        AllowMethods: ['GET', 'POST', 'DELETE'],
        AllowHeaders: Match.arrayWith(['content-type', 'authorization', 'idempotency-key']),
      },
    });
  });
});

describe('the functions', () => {
  it('run on arm64 and nodejs22.x, with their own log group kept for the configured days', () => {
    const functions = Object.entries(ofType('AWS::Lambda::Function'));
    expect(functions).toHaveLength(7);
    for (const [id, fn] of functions) {
      expect(fn.Properties, id).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Handler: 'index.handler' });
      const logGroup = byId(referencedId(fn.Properties.LoggingConfig?.LogGroup) as string);
      expect(logGroup.Type, id).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays, id).toBe(30);
      expect(fn.Properties.Environment.Variables, id).toMatchObject({
        POWERTOOLS_SERVICE_NAME: expect.stringMatching(/^dormouse-/),
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
    }
  });

  it('keep the wake function, on the request path, small, with a timeout past its hold and its concurrency capped', () => {
    const wake = byId(functionId(synth.template, 'dormouse-wake')).Properties;
    // Held 25 s by default, 5 s to spare, well under the ALB's 60 s idle timeout.
    expect(wake).toMatchObject({ MemorySize: 256, Timeout: 30 });
    expect(wake.Environment.Variables.DORMOUSE_WAKE_HOLD_SECONDS).toBe('25');
    expect(wakeTimeout(50).toSeconds()).toBe(55);
    expect(() => wakeTimeout(55)).toThrow(/ALB idle timeout/);
    // Anyone can make it hold a request that long: the cap bounds how much of the account's pool they take.
    expect(byId(functionId(synth.template, 'dormouse-wake')).Properties.ReservedConcurrentExecutions).toBe(50);
  });

  it('reserve 20 executions for the reconcile function, so a burst of changes queues instead of starving the API and wake', () => {
    expect(byId(functionId(synth.template, 'dormouse-reconcile')).Properties.ReservedConcurrentExecutions).toBe(20);
    expect(byId(functionId(synth.template, 'dormouse-api')).Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('are bundled locally by esbuild as ESM with a require shim, without source maps to load at cold start', () => {
    for (const fn of Object.values(ofType('AWS::Lambda::Function'))) {
      const assetDir = dirname(assetFile(fn));
      expect(readdirSync(assetDir).sort()).toEqual(['index.mjs']);
      expect(fn.Properties.Environment.Variables).not.toHaveProperty('NODE_OPTIONS');
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire as __dmCreateRequire } from 'node:module';")).toBe(true);
    }
  });

  it('carry only the environment link of the SDK credential chain, the one Lambda provides', () => {
    // The tenant data function too: it calls S3 for exports and restores.
    for (const [id, fn] of Object.entries(ofType('AWS::Lambda::Function'))) {
      const code = readFileSync(assetFile(fn), 'utf8');
      // fromEnv's variables are in; SSO, profiles' credential processes, web identity and the
      // container credentials endpoint are not. (Compared as lists: a failing `toContain` would
      // print the whole bundle.)
      const markers = [
        'AWS_SESSION_TOKEN',
        'sso_start_url',
        'credential_process',
        'AWS_WEB_IDENTITY_TOKEN_FILE',
        'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      ];
      expect(
        markers.filter((marker) => code.includes(marker)),
        id,
      ).toEqual(['AWS_SESSION_TOKEN']);
    }
  });

  it('answer from DynamoDB with the credentials Lambda puts in the environment (the deployed wake bundle, run as is)', async () => {
    // Prepare: a sleeping tenant in DynamoDB Local, and the environment a Lambda sandbox has.
    const tables = await createTestTables();
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    const created = await store.create(
      newTenant({ slug: 'sleepy', email: 'sleepy@example.test', plan: 'trial', tokenHash: 'hash', now: new Date(), trialDays: 14 }),
      { maxTenants: 10 },
    );
    await store.save({ ...created, spec: { ...created.spec, desired: 'passivated' }, status: { ...created.status, phase: 'Passivated' } });
    const event = {
      requestContext: {
        elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dormouse-wake/0123456789abcdef' },
      },
      httpMethod: 'GET',
      path: '/',
      headers: { host: 'sleepy.trials.example.com', accept: 'application/json' },
      body: '',
      isBase64Encoded: false,
    };
    const invoke =
      'const { handler } = await import(process.argv[1]);' +
      'const result = await handler(JSON.parse(process.argv[2]), { awsRequestId: "bundle-test", getRemainingTimeInMillis: () => 10000 });' +
      'process.stdout.write(JSON.stringify(result));';

    // Act
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        invoke,
        pathToFileURL(assetFile(byId(functionId(synth.template, 'dormouse-wake')))).href,
        JSON.stringify(event),
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: synth.outdir,
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'ASIABUNDLETEST',
          AWS_SECRET_ACCESS_KEY: 'bundle-test',
          AWS_SESSION_TOKEN: 'bundle-test',
          AWS_ENDPOINT_URL_DYNAMODB: tables.endpoint,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
          DORMOUSE_TABLE_NAME: tables.tenantTable,
          DORMOUSE_BASE_URL: 'https://trials.example.com',
        },
      },
    );

    // Assert: the waking answer, and the tenant's record asks for it to run again.
    const result = JSON.parse(stdout);
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body)).toMatchObject({ tenant: 'sleepy', status: 'waking' });
    expect((await store.get('sleepy'))?.spec.desired).toBe('running');
  });

  it('gives every function a configuration its loader accepts', () => {
    const env = (service: string) =>
      Object.fromEntries(
        Object.entries(byId(functionId(synth.template, service)).Properties.Environment.Variables as Record<string, unknown>).map(
          ([name, value]) => [
            name,
            name === 'DORMOUSE_FILE_SYSTEM_ID'
              ? fileSystemIdFor(value)
              : name === 'DORMOUSE_LISTENER_ARN'
                ? listenerArnFor(value)
                : resolvePlausibly(value),
          ],
        ),
      );
    // A Ref to the HTTPS listener resolves to its ARN, which names its load balancer: checked to be that Ref, then stood in for.
    const listenerArnFor = (value: unknown) => {
      const [listenerId] = Object.entries(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::Listener')).find(
        ([, listener]) => listener.Properties.Protocol === 'HTTPS',
      )!;
      expect(referencedId(value)).toBe(listenerId);
      return `arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/${albId}/50dc6c495c0c9188/f2f7dc8efc522ab2`;
    };
    // A Ref to the file system resolves to its id, fs-…: checked to be that Ref, then stood in for.
    const [fileSystemLogicalId] = onlyResource(synth.template, 'AWS::EFS::FileSystem');
    const fileSystemIdFor = (value: unknown) => {
      expect(referencedId(value)).toBe(fileSystemLogicalId);
      return 'fs-0123456789abcdef0';
    };
    const [albId] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    // URLs compare by href only once serialized.
    const plain = (value: unknown) => JSON.parse(JSON.stringify(value));

    const api = loadApiConfig(env('dormouse-api'));
    const reconciler = loadReconcilerConfig(env('dormouse-reconcile'));
    const publisher = loadStreamPublisherConfig(env('dormouse-stream-publisher'));
    const wake = loadWakeConfig(env('dormouse-wake'));
    const sweep = loadSweepConfig(env('dormouse-sweep'));
    const sweepReconciler = loadReconcilerConfig(env('dormouse-sweep'));

    expect(api).toMatchObject({
      maxTenants: 1000,
      idempotencyTtlSeconds: 3600,
      signupsPerHour: 5,
      trustForwardedFor: false,
      verifyEmail: true,
      emailSender: 'no-reply@trials.example.com',
    });
    expect(api.baseUrl.href).toBe('https://trials.example.com/');
    // The trial length is the trial plan's.
    expect(api.plans.plans.find((plan) => plan.name === 'trial')?.trialDays).toBe(14);
    expect(api.adminToken).toBeUndefined();
    expect(api.adminPrincipals).toEqual(['arn:aws:iam::123456789012:role/DormouseAdmin', 'arn:aws:iam::123456789012:user/ops']);
    expect(reconciler).toMatchObject({
      maxActiveTenants: 90,
      spotAttemptsBeforeFallback: 3,
      fallbackToOnDemand: true,
      maxRestarts: 3,
      tombstoneSeconds: 7 * 86_400,
      ecs: { containerName: 'app', assignPublicIp: false },
      elb: { port: 80, healthCheckPath: '/' },
    });
    expect(env('dormouse-reconcile').DORMOUSE_IDLE_MINUTES).toBeUndefined();
    expect(wake).toMatchObject({
      maxActiveTenants: reconciler.maxActiveTenants,
      minRunMs: 5 * 60_000,
      anonymousWakesPerHour: 6,
      holdMs: 25_000,
      tenantTable: api.tenantTable,
    });
    expect(wake.baseUrl.href).toBe('https://trials.example.com/');
    // The sweep reconciles with exactly the reconcile function's settings.
    expect(plain(sweepReconciler)).toEqual(plain(reconciler));
    expect(sweep).toEqual({
      loadBalancerFullNames: [`app/${albId}/50dc6c495c0c9188`],
      idleMs: 15 * 60_000,
      minRunMs: 5 * 60_000,
      expiringNoticeMs: 24 * 3_600_000,
      pageSize: 100,
      budgetMs: 40_000,
      stuckMs: 15 * 60_000,
      // Written out by the CDK app: the built-in plans at the configured size.
      plans: builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 }),
      warmLeadMs: 5 * 60_000,
      networkActivityBytesPerSecond: 0,
    });
    // The sweep reads the load balancer's CloudWatch dimension off the listener ARN, not from a setting of its own.
    expect(env('dormouse-sweep').DORMOUSE_LOAD_BALANCER_FULL_NAME).toBeUndefined();
    expect(publisher.busName).toBe(onlyResource(synth.template, 'AWS::Events::EventBus')[0]);
    expect(env('dormouse-task-events').DORMOUSE_TABLE_NAME).toBe(env('dormouse-api').DORMOUSE_TABLE_NAME);
  });

  it.each([
    ['dormouse-api', ['api']],
    ['dormouse-wake', ['wake']],
    ['dormouse-reconcile', ['reconciler']],
    ['dormouse-sweep', ['sweep', 'reconciler']],
    ['dormouse-task-events', ['task-events']],
    ['dormouse-stream-publisher', ['stream-publisher']],
    ['dormouse-tenant-data', ['tenant-data']],
  ] as const)('writes into %s only variables it reads, as declared', (service, programs) => {
    const variables = Object.keys(byId(functionId(synth.template, service)).Properties.Environment.Variables as object);

    expect(variables.filter((name) => name.startsWith('DORMOUSE_'))).not.toEqual([]);
    expect(unknownSettings(Object.fromEntries(variables.map((name) => [name, 'set'])), programs)).toEqual([]);
  });
});

describe('tenant storage', () => {
  const fileSystem = () => onlyResource(synth.template, 'AWS::EFS::FileSystem');
  const fileSystemGroupId = () => referencedId(Object.values(ofType('AWS::EFS::MountTarget'))[0]?.Properties.SecurityGroups[0]) as string;
  const tenantGroupId = () =>
    referencedId(
      byId(functionId(synth.template, 'dormouse-reconcile')).Properties.Environment.Variables.DORMOUSE_SECURITY_GROUPS,
    ) as string;
  const cleaner = () => byId(functionId(synth.template, 'dormouse-tenant-data'));
  const cleanerGroupId = () => referencedId(cleaner().Properties.VpcConfig.SecurityGroupIds[0]) as string;
  const statementsOf = (service: string, prefix: string) =>
    functionStatements(synth.template, functionId(synth.template, service)).filter((s) =>
      asArray(s.Action).some((action) => action.startsWith(prefix)),
    );

  it('is one EFS file system, encrypted at rest, kept when the stack is deleted or the resource replaced', () => {
    const [, fs] = fileSystem();
    expect(fs).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(fs.Properties).toMatchObject({
      Encrypted: true,
      PerformanceMode: 'generalPurpose',
      ThroughputMode: 'elastic',
      LifecyclePolicies: [{ TransitionToIA: 'AFTER_7_DAYS' }, { TransitionToPrimaryStorageClass: 'AFTER_1_ACCESS' }],
    });
    // No backups unless dormouse.backup says so.
    expect(fs.Properties.BackupPolicy).toBeUndefined();
  });

  it('has a mount target in each tenant subnet, and only there', () => {
    const [fsId] = fileSystem();
    const tenantSubnets = resolveForTest(
      byId(functionId(synth.template, 'dormouse-reconcile')).Properties.Environment.Variables.DORMOUSE_SUBNETS,
    )
      .split(',')
      .sort();
    const mountTargets = Object.values(ofType('AWS::EFS::MountTarget'));
    expect(mountTargets.map((target) => referencedId(target.Properties.FileSystemId))).toEqual([fsId, fsId]);
    expect(mountTargets.map((target) => referencedId(target.Properties.SubnetId)).sort()).toEqual(tenantSubnets);
  });

  it('lets in NFS (2049) from tenant tasks and the cleaner only, and opens nothing out', () => {
    const groupId = fileSystemGroupId();
    const ingress = Object.values(ofType('AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => referencedId(rule.Properties.GroupId) === groupId,
    );
    expect(byId(groupId).Properties.SecurityGroupIngress).toBeUndefined();
    expect(
      ingress
        .map((rule) => [
          referencedId(rule.Properties.SourceSecurityGroupId),
          rule.Properties.IpProtocol,
          rule.Properties.FromPort,
          rule.Properties.ToPort,
        ])
        .sort(),
    ).toEqual(
      [
        [tenantGroupId(), 'tcp', 2049, 2049],
        [cleanerGroupId(), 'tcp', 2049, 2049],
      ].sort(),
    );
    // aws-cdk-lib's placeholder for "no egress at all".
    expect(byId(groupId).Properties.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '255.255.255.255/32' })]);
    expect(
      Object.values(ofType('AWS::EC2::SecurityGroupEgress')).filter((rule) => referencedId(rule.Properties.GroupId) === groupId),
    ).toEqual([]);
  });

  it('has a file system policy that refuses any client without TLS or without an access point, and allows nothing by itself', () => {
    const [, fs] = fileSystem();
    const statements = fs.Properties.FileSystemPolicy.Statement as PolicyStatementJson[];
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: '*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientRootAccess', 'elasticfilesystem:ClientWrite'],
        Condition: { Null: { 'elasticfilesystem:AccessPointArn': 'true' } },
      }),
    ]);
    // With a policy in place EFS requires IAM authorization: an anonymous client is allowed nothing.
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  it("runs the data function in the tenant subnets, in its own group that may only reach the file system's NFS port and HTTPS", () => {
    const tenantSubnets = resolveForTest(
      byId(functionId(synth.template, 'dormouse-reconcile')).Properties.Environment.Variables.DORMOUSE_SUBNETS,
    )
      .split(',')
      .sort();
    const fn = cleaner();
    expect(fn.Properties.VpcConfig.SubnetIds.map(referencedId).sort()).toEqual(tenantSubnets);
    expect(fn.Properties.VpcConfig.SecurityGroupIds).toHaveLength(1);
    const groupId = cleanerGroupId();
    expect(groupId).not.toBe(tenantGroupId());
    // HTTPS for the archive bucket, which the S3 gateway endpoint serves from these subnets.
    expect(byId(groupId).Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: 'S3 (the archive bucket) over HTTPS' },
    ]);
    const egress = Object.values(ofType('AWS::EC2::SecurityGroupEgress')).filter(
      (rule) => referencedId(rule.Properties.GroupId) === groupId,
    );
    expect(
      egress.map((rule) => [referencedId(rule.Properties.DestinationSecurityGroupId), rule.Properties.FromPort, rule.Properties.ToPort]),
    ).toEqual([[fileSystemGroupId(), 2049, 2049]]);
    expect(
      Object.values(ofType('AWS::EC2::SecurityGroupIngress')).filter((rule) => referencedId(rule.Properties.GroupId) === groupId),
    ).toEqual([]);
  });

  it('mounts the /tenants access point (owner 1000:1000, 0700) at /mnt/tenants in the cleaner, and lets its role mount only that', () => {
    // Prepare
    const [fsId] = fileSystem();
    const [accessPointId, accessPoint] = onlyResource(synth.template, 'AWS::EFS::AccessPoint');
    const fn = cleaner();

    // Act
    const mounts = fn.Properties.FileSystemConfigs as Array<{ Arn: unknown; LocalMountPath: string }>;
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-tenant-data')).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('elasticfilesystem:')),
    );

    // Assess
    expect(referencedId(accessPoint.Properties.FileSystemId)).toBe(fsId);
    expect(accessPoint.Properties).toMatchObject({
      PosixUser: { Uid: '1000', Gid: '1000' },
      RootDirectory: { Path: '/tenants', CreationInfo: { OwnerUid: '1000', OwnerGid: '1000', Permissions: '0700' } },
    });
    expect(mounts).toHaveLength(1);
    expect(mounts[0]?.LocalMountPath).toBe('/mnt/tenants');
    expect(resolveForTest(mounts[0]?.Arn)).toMatch(new RegExp(`:access-point/${accessPointId}$`));
    expect(statements).toEqual([
      {
        Sid: 'MountTenantsDirectory',
        Effect: 'Allow',
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        Resource: { 'Fn::GetAtt': [fsId, 'Arn'] },
        Condition: {
          StringEquals: { 'elasticfilesystem:AccessPointArn': mounts[0]?.Arn },
          Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
        },
      },
    ]);
    // Mounting needs the mount targets, which the function waits for.
    expect(fn.DependsOn).toEqual(expect.arrayContaining(Object.keys(ofType('AWS::EFS::MountTarget'))));
  });

  it("holds the reconciler's EFS calls to this file system and to access points tagged with this installation", () => {
    const installation = synth.stack.installation;
    const [fsId] = fileSystem();
    const efs = statementsOf('dormouse-reconcile', 'elasticfilesystem:');
    const bySid = Object.fromEntries(efs.map((s) => [s.Sid, s]));
    const accessPoints = 'arn:aws:elasticfilesystem:us-east-1:AWS::AccountId:access-point/*';

    expect(efs.flatMap((s) => asArray(s.Action)).sort()).toEqual([
      'elasticfilesystem:CreateAccessPoint',
      'elasticfilesystem:DeleteAccessPoint',
      'elasticfilesystem:DescribeAccessPoints',
      'elasticfilesystem:TagResource',
    ]);
    expect(bySid.CreateTenantAccessPoints).toMatchObject({
      Resource: { 'Fn::GetAtt': [fsId, 'Arn'] },
      Condition: { StringEquals: { 'aws:RequestTag/dormouse:installation': installation } },
    });
    expect(bySid.TagTenantAccessPointsOnCreate?.Condition).toEqual({
      StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', 'aws:RequestTag/dormouse:installation': installation },
    });
    expect(asArray(bySid.TagTenantAccessPointsOnCreate?.Resource).map((r) => referencedId(r) ?? resolveForTest(r))).toEqual([
      fsId,
      accessPoints,
    ]);
    // EfsStorage lists the file system's access points and reads its tenant's by id.
    expect(asArray(bySid.DescribeTenantAccessPoints?.Resource).map((r) => referencedId(r) ?? resolveForTest(r))).toEqual([
      fsId,
      accessPoints,
    ]);
    expect(bySid.DescribeTenantAccessPoints?.Condition).toBeUndefined();
    expect(resolveForTest(bySid.DeleteTenantAccessPoints?.Resource)).toEqual(accessPoints);
    expect(bySid.DeleteTenantAccessPoints?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/dormouse:installation': installation },
    });
  });

  it("lets the reconciler run, and tag on register, only this installation's tenant task definition families", () => {
    const installation = synth.stack.installation;
    const ecs = statementsOf('dormouse-reconcile', 'ecs:');
    const run = ecs.find((s) => asArray(s.Action).includes('ecs:RunTask'));
    const register = ecs.filter((s) => asArray(s.Action).includes('ecs:RegisterTaskDefinition'));
    const tagOnRegister = ecs.filter((s) => s.Condition?.StringEquals?.['ecs:CreateAction'] === 'RegisterTaskDefinition');

    expect(asArray(run?.Resource).map(resolveForTest)).toEqual([
      expect.stringMatching(/:task-definition\/Dormouse-tenant:\*$/),
      expect.stringMatching(new RegExp(`:task-definition/dm-${installation}-\\*:\\*$`)),
    ]);
    expect(register).toEqual([
      expect.objectContaining({
        Action: 'ecs:RegisterTaskDefinition',
        Resource: '*',
        Condition: { StringEquals: { 'aws:RequestTag/dormouse:installation': installation } },
      }),
    ]);
    expect(tagOnRegister).toHaveLength(1);
    expect(tagOnRegister[0]?.Action).toBe('ecs:TagResource');
    expect(resolveForTest(tagOnRegister[0]?.Resource)).toMatch(new RegExp(`:task-definition/dm-${installation}-\\*:\\*$`));
    expect(tagOnRegister[0]?.Condition?.StringEquals?.['aws:RequestTag/dormouse:installation']).toBe(installation);
    expect(
      ecs
        .filter((s) => asArray(s.Resource).includes('*'))
        .flatMap((s) => asArray(s.Action))
        .sort(),
    ).toEqual([
      'ecs:DeleteTaskDefinitions',
      'ecs:DeregisterTaskDefinition',
      'ecs:DescribeTaskDefinition',
      'ecs:ListTaskDefinitionFamilies',
      'ecs:ListTaskDefinitions',
      'ecs:ListTasks',
      'ecs:RegisterTaskDefinition',
    ]);
  });

  it('lets the reconciler and the sweep invoke the cleaner and no other function', () => {
    const cleanerId = functionId(synth.template, 'dormouse-tenant-data');
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const invoke = statementsOf(service, 'lambda:');
      expect(
        invoke.map((s) => [s.Action, s.Resource]),
        service,
      ).toEqual([['lambda:InvokeFunction', { 'Fn::GetAtt': [cleanerId, 'Arn'] }]]);
    }
  });

  it('tells the reconcile and sweep functions the data path, the file system, the cleaner and the handover', () => {
    const [fsId] = fileSystem();
    const cleanerId = functionId(synth.template, 'dormouse-tenant-data');
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      expect(byId(functionId(synth.template, service)).Properties.Environment.Variables, service).toMatchObject({
        DORMOUSE_DATA_PATH: '/data',
        DORMOUSE_FILE_SYSTEM_ID: { Ref: fsId },
        DORMOUSE_DATA_FUNCTION: { Ref: cleanerId },
        DORMOUSE_HANDOVER: 'stop-first',
      });
    }
  });

  it('alarms to the operators topic when the file system holds more than storageAlarmGiB (50 GiB)', () => {
    const [fsId] = fileSystem();
    const [topicId] = onlyResource(synth.template, 'AWS::SNS::Topic');
    const alarms = Object.values(ofType('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.Namespace === 'AWS/EFS');
    expect(alarms.map((a) => a.Properties)).toEqual([
      expect.objectContaining({
        MetricName: 'StorageBytes',
        Dimensions: [
          { Name: 'FileSystemId', Value: { Ref: fsId } },
          { Name: 'StorageClass', Value: 'Total' },
        ],
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 50 * 1024 ** 3,
        AlarmActions: [{ Ref: topicId }],
      }),
    ]);
  });

  it('outputs the file system id', () => {
    const [fsId] = fileSystem();
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.TenantFileSystemId?.Value).toEqual({ Ref: fsId });
  });
});

describe('the stack', () => {
  it('outputs the API URL, ALB DNS name, bus name and table name, and what admins must be allowed to invoke', () => {
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['ApiUrl', 'LoadBalancerDnsName', 'EventBusName', 'TenantTableName', 'AdminRouteArns']),
    );
    expect(resolveForTest(outputs.AdminRouteArns?.Value).split(',')).toEqual([
      expect.stringMatching(/\/\$default\/\*\/admin\/\*$/),
      expect.stringMatching(/\/\$default\/GET\/tenants$/),
    ]);
  });

  it('deploys to the region of the configured zones and needed no lookups', () => {
    expect(synth.stack.region).toBe('us-east-1');
    const manifest = JSON.parse(readFileSync(join(synth.outdir, 'manifest.json'), 'utf8'));
    expect(manifest.missing ?? []).toEqual([]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('leaves no unacknowledged error or warning, and no other validation finding', () => {
    const findings = synth.report.pluginReports.flatMap((report) =>
      report.violations.map((v) => `${report.pluginName} ${v.severity} ${v.ruleName}: ${v.description}`),
    );
    expect(findings).toEqual([]);
    expect(synth.stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning' || m.type === 'aws:cdk:error')).toEqual([]);
  });

  it('acknowledges only these findings, each with a reason of its own', () => {
    // Prepare: keys are "<construct path> <rule>"; wildcard findings are folded to one per role.
    const entries = [...synth.acknowledgements].map(([key, reason]) => ({
      key: key
        .replace(/^Dormouse\//, '')
        .replace(' Annotation::', ' ')
        .replace(/\[Resource::.*\]$/, '[Resource::…]'),
      reason,
    }));

    // Act
    const ours = entries.filter(({ key }) => key.includes(' AwsSolutions-') || key.includes(' @aws-cdk/'));
    const fromAwsCdkLib = entries.filter((entry) => !ours.includes(entry));

    // Assess
    for (const { key, reason } of ours) expect(reason.length, key).toBeGreaterThan(50);
    expect([...new Set(ours.map(({ key }) => key))].sort()).toEqual(
      [
        'Alerts/Topic AwsSolutions-SNS2',
        'Alerts/StreamDlq AwsSolutions-SQS3',
        'Alerts/ReconcileDlq AwsSolutions-SQS3',
        'Alerts/TaskEventsDlq AwsSolutions-SQS3',
        'Alerts/FailureNoticeDlq AwsSolutions-SQS3',
        'Alerts/SweepScheduleDlq AwsSolutions-SQS3',
        'Events/PipeRole AwsSolutions-IAM5[Resource::…]',
        'LoadBalancer/Alb AwsSolutions-EC23',
        'LoadBalancer/AccessLogs AwsSolutions-S1',
        'Tenants/ExecutionRole AwsSolutions-IAM5[Resource::…]',
        'Tenants/TenantTask AwsSolutions-ECS2',
        'Tables/Idempotency AwsSolutions-DDB3',
        'ControlPlane/Api AwsSolutions-L1',
        'ControlPlane/StreamPublisher AwsSolutions-L1',
        'ControlPlane/Reconcile AwsSolutions-L1',
        'ControlPlane/TaskEvents AwsSolutions-L1',
        'ControlPlane/Wake AwsSolutions-L1',
        'ControlPlane/Sweep AwsSolutions-L1',
        'ControlPlane/ReconcileRole AwsSolutions-IAM5[Resource::…]',
        'ControlPlane/SweepRole AwsSolutions-IAM5[Resource::…]',
        'Storage/Cleaner AwsSolutions-L1',
        'Storage/CleanerRole AwsSolutions-IAM5[Resource::…]',
        'Storage/Archives AwsSolutions-S1',
        'ControlPlane/ApiRole AwsSolutions-IAM5[Resource::…]',
        'Storage/CleanerRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        ...[
          'GET--',
          'GET--healthz',
          'GET--plans',
          'POST--tenants',
          'GET--verify',
          'GET--tenants--{id}',
          'DELETE--tenants--{id}',
          'POST--tenants--{id}--passivate',
          'POST--tenants--{id}--wake',
          'POST--tenants--{id}--export',
          'GET--tenants--{id}--usage',
          'GET--tenants--{id}--events',
          'GET--tenants--{id}--logs',
          'GET--manage',
          'POST--tenants--{id}--retry',
          'DefaultRoute',
        ].map((route) => `Api/HttpApi/${route} AwsSolutions-APIG4`),
      ].sort(),
    );
    // Made by aws-cdk-lib itself for literal zones and flow log properties, not by Dormouse.
    expect(fromAwsCdkLib.map(({ key }) => key).sort()).toEqual([
      'Dormouse CloudFormation-Validate::W3010',
      'Tenants/Vpc/RejectedTraffic CloudFormation-Validate::F3002',
      'Tenants/Vpc/RejectedTraffic CloudFormation-Validate::F3003',
    ]);
  });
});

describe('tenant data archives', () => {
  const archiveBucket = () => Object.entries(ofType('AWS::S3::Bucket')).find(([id]) => id.startsWith('StorageArchives'))!;
  const dataFunctionId = () => functionId(synth.template, 'dormouse-tenant-data');
  const s3Statements = (service: string) =>
    functionStatements(synth.template, functionId(synth.template, service))
      .filter((s) => asArray(s.Action).some((action) => action.startsWith('s3:')))
      .map((s) => ({ sid: s.Sid, actions: asArray(s.Action).sort(), resources: asArray(s.Resource).map(resolveForTest) }));

  it('keeps archives in a private, encrypted, TLS-only bucket that expires exports and uploads after a day', () => {
    const [bucketId, bucket] = archiveBucket();
    const policy = Object.values(ofType('AWS::S3::BucketPolicy')).find((p) => referencedId(p.Properties.Bucket) === bucketId)!;

    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: 'ExpireExports', Prefix: 'exports/', ExpirationInDays: 1, Status: 'Enabled' },
      { Id: 'ExpireRestoreUploads', Prefix: 'restores/', ExpirationInDays: 1, Status: 'Enabled' },
      { Id: 'AbortIncompleteUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
    ]);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]);
  });

  it('gives the tenant subnets of the VPC it creates an S3 gateway endpoint', () => {
    const endpoints = Object.values(ofType('AWS::EC2::VPCEndpoint'));
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]?.Properties).toMatchObject({ VpcEndpointType: 'Gateway' });
    expect(resolveForTest(endpoints[0]?.Properties.ServiceName)).toMatch(/^com\.amazonaws\.[^.]+\.s3$/);
    const privateRouteTables = Object.entries(ofType('AWS::EC2::RouteTable'))
      .filter(([id]) => /tenantsSubnet/i.test(id))
      .map(([id]) => id)
      .sort();
    expect(privateRouteTables.length).toBeGreaterThan(0);
    expect((endpoints[0]?.Properties.RouteTableIds as unknown[]).map(referencedId).sort()).toEqual(privateRouteTables);
  });

  it('lets the data function write exports and read uploads, each under its own prefix only, for 15 minutes with a full vCPU', () => {
    const [bucketId] = archiveBucket();
    const fn = byId(dataFunctionId());

    expect(s3Statements('dormouse-tenant-data')).toEqual([
      { sid: 'WriteExports', actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resources: [`${bucketId}/exports/*`] },
      { sid: 'ReadRestoreUploads', actions: ['s3:GetObject'], resources: [`${bucketId}/restores/*`] },
    ]);
    expect(fn.Properties.Environment.Variables.DORMOUSE_ARCHIVE_BUCKET).toEqual({ Ref: bucketId });
    expect(fn.Properties).toMatchObject({ Timeout: 900, MemorySize: 1769, ReservedConcurrentExecutions: 5 });
  });

  it('lets the API invoke the data function and sign links for exports and uploads, and nothing more of S3', () => {
    const [bucketId] = archiveBucket();
    const api = byId(functionId(synth.template, 'dormouse-api'));
    const invoke = functionStatements(synth.template, functionId(synth.template, 'dormouse-api')).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('lambda:')),
    );

    expect(invoke.map((s) => [s.Action, s.Resource])).toEqual([['lambda:InvokeFunction', { 'Fn::GetAtt': [dataFunctionId(), 'Arn'] }]]);
    expect(s3Statements('dormouse-api')).toEqual([
      { sid: 'SignExportLinks', actions: ['s3:GetObject'], resources: [`${bucketId}/exports/*`, `${bucketId}/restores/*`] },
      { sid: 'SignUploadLinks', actions: ['s3:PutObject'], resources: [`${bucketId}/restores/*`] },
      { sid: 'TellMissingUploads', actions: ['s3:ListBucket'], resources: [`${bucketId}`] },
    ]);
    expect(api.Properties.Environment.Variables).toMatchObject({
      DORMOUSE_ARCHIVE_BUCKET: { Ref: bucketId },
      DORMOUSE_DATA_FUNCTION: { Ref: dataFunctionId() },
    });
    // It waits for exports and restores as long as API Gateway waits for it.
    expect(api.Properties.Timeout).toBe(29);
  });
});
