import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadBalancer } from '../../cdk/constructs/load-balancer.js';
import { isDockerHubImage } from '../../cdk/config.js';
import { createDormouseApp } from '../../cdk/dormouse-app.js';
import {
  CDK_JSON_CONTEXT,
  asArray,
  functionId,
  functionStatements,
  onlyResource,
  resolveForTest,
  resourcesOf,
  synthesize,
  type CfnResource,
  type Synthesized,
} from './support.js';

const PUBLIC_SUBNETS = ['subnet-00000000000000001', 'subnet-00000000000000002'];
const PRIVATE_SUBNETS = ['subnet-00000000000000003', 'subnet-00000000000000004'];

/**
 * An install into an existing VPC, with an ECR image, static environment and access logs,
 * and no certificate: the HTTP-only demo mode.
 */
const DEMO_IN_EXISTING_VPC = {
  domain: 'trials.acme.io',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  vpcId: 'vpc-0123456789abcdef0',
  publicSubnetIds: PUBLIC_SUBNETS,
  privateSubnetIds: PRIVATE_SUBNETS,
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/app:1.4.2',
  containerPort: 8080,
  cpu: 512,
  memory: 2048,
  healthCheckPath: '/healthz',
  environment: { APP_MODE: 'trial' },
  accessLogsBucket: 'acme-alb-logs',
  corsAllowOrigins: ['https://www.acme.io'],
  apiThrottle: { rate: 5, burst: 10 },
  logRetentionDays: 90,
};

describe('an HTTP-only install into an existing VPC', () => {
  let synth: Synthesized;
  let resources: Record<string, CfnResource>;

  beforeAll(() => {
    synth = synthesize(DEMO_IN_EXISTING_VPC);
    resources = synth.template.toJSON().Resources;
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('serves plain HTTP on port 80, unknown tenant hosts going to the wake function, and warns about it, not about the image', () => {
    const [listenerId, listener] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::Listener');
    const [targetGroupId, targetGroup] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    const [, rule] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::ListenerRule');
    expect(listener.Properties).toMatchObject({
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } }],
    });
    expect(rule.Properties).toMatchObject({
      ListenerArn: { Ref: listenerId },
      Priority: 50_000,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['*.trials.acme.io'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: { Ref: targetGroupId } }],
    });
    expect(targetGroup.Properties.Targets).toEqual([{ Id: { 'Fn::GetAtt': [functionId(synth.template, 'dormouse-wake'), 'Arn'] } }]);
    expect(listener.Properties.Certificates).toBeUndefined();
    const warnings = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity === 'warning');
    expect(warnings.map((w) => w.description)).toEqual([expect.stringContaining('No dormouse.certificateArn')]);
  });

  it('builds tenant URLs with http://', () => {
    const api = resources[functionId(synth.template, 'dormouse-api')] as CfnResource;
    expect(api.Properties.Environment.Variables.DORMOUSE_BASE_URL).toBe('http://trials.acme.io');
  });

  it('creates no VPC and no DNS record, and uses the given subnets', () => {
    expect(resourcesOf(synth.template, 'AWS::EC2::VPC')).toEqual({});
    expect(resourcesOf(synth.template, 'AWS::EC2::Subnet')).toEqual({});
    expect(resourcesOf(synth.template, 'AWS::Route53::RecordSet')).toEqual({});
    const [, alb] = onlyResource(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(alb.Properties.Subnets).toEqual(PUBLIC_SUBNETS);
    const reconcile = resources[functionId(synth.template, 'dormouse-reconcile')] as CfnResource;
    expect(reconcile.Properties.Environment.Variables).toMatchObject({
      DORMOUSE_SUBNETS: PRIVATE_SUBNETS.join(','),
      DORMOUSE_VPC_ID: 'vpc-0123456789abcdef0',
      DORMOUSE_CONTAINER_PORT: '8080',
      DORMOUSE_HEALTH_CHECK_PATH: '/healthz',
    });
  });

  it('lets the task pull its ECR image and sets its static environment', () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    const [container] = taskDefinition.Properties.ContainerDefinitions;
    expect(resolveForTest(container.Image)).toBe('123456789012.dkr.ecr.eu-west-1.AWS::URLSuffix/acme/app:1.4.2');
    expect(container.Environment).toEqual([{ Name: 'APP_MODE', Value: 'trial' }]);
    expect(taskDefinition.Properties).toMatchObject({ Cpu: '512', Memory: '2048' });
    synth.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
            Effect: 'Allow',
            Resource: 'arn:aws:ecr:eu-west-1:123456789012:repository/acme/app',
          },
          { Action: 'ecr:GetAuthorizationToken', Effect: 'Allow', Resource: '*' },
          { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: Match.anyValue() },
        ],
      },
    });
  });

  it('sends access logs to the given bucket, and makes none of its own; throttles and allows CORS as configured', () => {
    synth.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'access_logs.s3.bucket', Value: 'acme-alb-logs' }]),
    });
    expect(resourcesOf(synth.template, 'AWS::S3::Bucket')).toEqual({});
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: { AllowOrigins: ['https://www.acme.io'] } });
    for (const logGroup of Object.values(resourcesOf(synth.template, 'AWS::Logs::LogGroup'))) {
      expect(logGroup.Properties.RetentionInDays).toBe(90);
    }
  });

  it('keeps tenants stateless without dataPath: no file system, cleaner or access point, and no task definition of their own', () => {
    for (const type of ['AWS::EFS::FileSystem', 'AWS::EFS::MountTarget', 'AWS::EFS::AccessPoint']) {
      expect(resourcesOf(synth.template, type), type).toEqual({});
    }
    expect(
      Object.values(resourcesOf(synth.template, 'AWS::CloudWatch::Alarm')).filter((a) => a.Properties.Namespace === 'AWS/EFS'),
    ).toEqual([]);
    expect(() => functionId(synth.template, 'dormouse-tenant-data')).toThrow();
    // No archives: the API has no bucket, no data function and its short timeout.
    expect(Object.keys(resourcesOf(synth.template, 'AWS::S3::Bucket')).filter((id) => id.startsWith('StorageArchives'))).toEqual([]);
    expect(resourcesOf(synth.template, 'AWS::EC2::VPCEndpoint')).toEqual({});
    const api = (resources[functionId(synth.template, 'dormouse-api')] as CfnResource).Properties;
    expect(Object.keys(api.Environment.Variables).filter((name) => /ARCHIVE|DATA/.test(name))).toEqual([]);
    expect(api.Timeout).toBe(10);
    expect(
      functionStatements(synth.template, functionId(synth.template, 'dormouse-api'))
        .flatMap((s) => asArray(s.Action))
        .filter((a) => /^(s3|lambda):/.test(a)),
    ).toEqual([]);
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const fnId = functionId(synth.template, service);
      const variables = (resources[fnId] as CfnResource).Properties.Environment.Variables;
      expect(
        Object.keys(variables).filter((name) => /DATA|FILE_SYSTEM/.test(name)),
        service,
      ).toEqual([]);
      expect(variables.DORMOUSE_HANDOVER, service).toBe('stop-first');
      const actions = functionStatements(synth.template, fnId).flatMap((s) => asArray(s.Action));
      expect(
        actions.filter((a) => a.startsWith('elasticfilesystem:') || a.startsWith('lambda:') || /TaskDefinition/.test(a)),
        service,
      ).toEqual([]);
      const run = functionStatements(synth.template, fnId).find((s) => asArray(s.Action).includes('ecs:RunTask'));
      expect(asArray(run?.Resource).map(resolveForTest), service).toEqual([expect.stringMatching(/:task-definition\/Dormouse-tenant:\*$/)]);
    }
  });

  it('passes cdk-nag with the reasons that fit this install', () => {
    const errors = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity !== 'warning');
    expect(errors).toEqual([]);
    const acknowledged = [...synth.acknowledgements.keys()].join('\n');
    expect(acknowledged).toContain('Tenants/TenantTask Annotation::AwsSolutions-ECS2');
    expect(acknowledged).toContain('Tenants/ExecutionRole Annotation::AwsSolutions-IAM5[Resource::*]');
    expect(acknowledged).not.toContain('AwsSolutions-ELB2');
  });
});

describe('persistent data in an existing VPC, with backups, a larger alarm and overlapping handovers', () => {
  let synth: Synthesized;

  beforeAll(() => {
    synth = synthesize({
      ...DEMO_IN_EXISTING_VPC,
      dataPath: '/var/lib/app',
      backup: true,
      storageAlarmGiB: 200,
      handover: 'overlap',
    });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('backs the file system up daily through AWS Backup', () => {
    const [, fileSystem] = onlyResource(synth.template, 'AWS::EFS::FileSystem');
    expect(fileSystem.Properties.BackupPolicy).toEqual({ Status: 'ENABLED' });
  });

  it('puts the mount targets and the cleaner in the given private subnets', () => {
    const mountTargets = Object.values(resourcesOf(synth.template, 'AWS::EFS::MountTarget'));
    expect(mountTargets.map((target) => target.Properties.SubnetId).sort()).toEqual([...PRIVATE_SUBNETS].sort());
    const cleaner = resourcesOf(synth.template, 'AWS::Lambda::Function')[functionId(synth.template, 'dormouse-tenant-data')];
    expect(cleaner?.Properties.VpcConfig.SubnetIds).toEqual(PRIVATE_SUBNETS);
  });

  it('adds no S3 endpoint to an existing VPC, which must reach S3 itself', () => {
    expect(resourcesOf(synth.template, 'AWS::EC2::VPCEndpoint')).toEqual({});
  });

  it('tells the reconciler the data path and the handover, and alarms at the configured size', () => {
    const reconcile = resourcesOf(synth.template, 'AWS::Lambda::Function')[functionId(synth.template, 'dormouse-reconcile')];
    expect(reconcile?.Properties.Environment.Variables).toMatchObject({ DORMOUSE_DATA_PATH: '/var/lib/app', DORMOUSE_HANDOVER: 'overlap' });
    const [, alarm] =
      Object.entries(resourcesOf(synth.template, 'AWS::CloudWatch::Alarm')).find(([, a]) => a.Properties.Namespace === 'AWS/EFS') ?? [];
    expect(alarm?.Properties.Threshold).toBe(200 * 1024 ** 3);
  });

  it("leaves the environment of the operator's own image alone (DATA_DIR is for the demo app)", () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    expect(taskDefinition.Properties.ContainerDefinitions[0].Environment).toEqual([{ Name: 'APP_MODE', Value: 'trial' }]);
  });

  it('passes cdk-nag', () => {
    const errors = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity !== 'warning');
    expect(errors).toEqual([]);
  });
});

describe('the load balancer default action', () => {
  function loadBalancerAlone() {
    const stack = new Stack(new App(), 'Wake', { env: { region: 'us-east-1' } });
    const vpc = new Vpc(stack, 'Vpc', { availabilityZones: ['us-east-1a', 'us-east-1b'], natGateways: 0 });
    const wake = new LambdaFunction(stack, 'Wake', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => ({ statusCode: 200 });'),
    });
    return { stack, wake, loadBalancer: new LoadBalancer(stack, 'LoadBalancer', { vpc, domain: 'trials.example.com' }) };
  }

  it('forwards unknown tenant hosts to the function it is given, single-valued headers, and answers other hosts 404', () => {
    // Prepare
    const { stack, wake, loadBalancer } = loadBalancerAlone();

    // Act
    loadBalancer.routeUnknownHostsTo(wake);

    // Assess
    const template = Template.fromStack(stack);
    const [targetGroupId, targetGroup] = onlyResource(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(targetGroup.Properties).toMatchObject({
      TargetType: 'lambda',
      Targets: [{ Id: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } }],
      TargetGroupAttributes: [{ Key: 'lambda.multi_value_headers.enabled', Value: 'false' }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      DefaultActions: [
        { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'Not Found' } },
      ],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 50_000,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['*.trials.example.com'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: { Ref: targetGroupId } }],
    });
    expect(() => loadBalancer.routeUnknownHostsTo(wake)).toThrow(/already routes unknown hosts/);
  });

  it('fails the synth when nothing answers unknown hosts', () => {
    const { stack } = loadBalancerAlone();
    expect(() => Template.fromStack(stack)).toThrow(/Listener needs at least one default action/);
  });
});

describe('the image', () => {
  it('warns at synth when the configured image comes from Docker Hub', () => {
    const synth = synthesize({ ...CDK_JSON_CONTEXT.dormouse, image: 'traefik/whoami:v1.10' });
    try {
      const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
      expect(taskDefinition.Properties.ContainerDefinitions[0].Image).toBe('traefik/whoami:v1.10');
      const warnings = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity === 'warning');
      expect(warnings.map((w) => w.description)).toContainEqual(expect.stringMatching(/traefik\/whoami:v1\.10 is pulled from Docker Hub/));
    } finally {
      synth.cleanup();
    }
  }, 120_000);

  it.each([
    ['nginx', true],
    ['library/nginx:1.27', true],
    ['docker.io/traefik/whoami:v1.10', true],
    ['registry-1.docker.io/library/node:22', true],
    ['index.docker.io/library/node:22', true],
    ['public.ecr.aws/docker/library/node:22-alpine', false],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/app:1.4.2', false],
    ['ghcr.io/acme/app:1', false],
    ['localhost:5000/app', false],
  ])('counts %s as a Docker Hub image: %s', (image, dockerHub) => {
    expect(isDockerHubImage(image)).toBe(dockerHub);
  });
});

describe('the app', () => {
  it('runs the cdk-nag AwsSolutions checks at synth and fails on an unacknowledged finding', () => {
    // Prepare: the real app, plus a resource that breaks an AwsSolutions rule.
    const outdir = mkdtempSync(join(tmpdir(), 'dormouse-cdk-'));
    const { app, stack } = createDormouseApp({
      outdir,
      context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] },
    });
    new Queue(stack, 'Careless', { encryption: QueueEncryption.UNENCRYPTED });

    // Act + Assess
    try {
      expect(() => app.synth()).toThrow(/AwsSolutions-SQS/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
