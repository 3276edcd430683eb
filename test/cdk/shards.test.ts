import { readFileSync } from 'node:fs';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DormouseConfigError, parseDormouseConfig } from '../../cdk/config.js';
import { LAMBDA_ENVIRONMENT_LIMIT, environmentSize } from '../../cdk/environment-size.js';
import { loadBalancerArnOf } from '../../shared/adapters/aws/shard-load-balancers.js';
import { loadSweepConfig, readListenerArns } from '../../shared/config.js';
import {
  CERTIFICATE_ARN,
  PRODUCTION_CONFIG,
  asArray,
  functionId,
  functionStatements,
  identityStatements,
  referencedId,
  resolveForTest,
  resourcesOf,
  synthesize,
  type CfnResource,
  type Synthesized,
} from './support.js';

const ZONE_ID = PRODUCTION_CONFIG.hostedZoneId;
const ZONE_ARN = `arn:aws:route53:::hostedzone/${ZONE_ID}`;

/** What every load balancer of the region has as canonical hosted zone, in these stand-ins. */
const ALB_ZONE_ID = 'Z35SXDOTRQ7X7K';

/** A stand-in for what CloudFormation would make of a load balancer's id, 16 hex digits, unique per load balancer. */
function albHex(synth: Synthesized, alb: string): string {
  const index = Object.keys(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')).indexOf(alb);
  return `${index}`.padStart(16, 'a');
}
const deployedFullName = (synth: Synthesized, alb: string) => `app/${alb.slice(0, 32)}/${albHex(synth, alb)}`;
const deployedDnsName = (alb: string) => `${alb.slice(0, 32)}-1234567890.us-east-1.elb.amazonaws.com`;
function deployedListenerArn(synth: Synthesized, alb: string): string {
  return `arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/${deployedFullName(synth, alb)}/${albHex(synth, alb).replace(/a/g, 'f')}`;
}

/**
 * A value as the function would see it once deployed: listener ARNs, load balancer names, DNS
 * names and zones stood in for in their real form, Fn::Join, Fn::Split and Fn::Select evaluated.
 */
function deployed(synth: Synthesized, value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as {
    Ref?: string;
    'Fn::GetAtt'?: [string, string];
    'Fn::Join'?: [string, unknown[]];
    'Fn::Select'?: [number, { 'Fn::Split': [string, unknown] }];
  };
  if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map((part) => deployed(synth, part)).join(intrinsic['Fn::Join'][0]);
  if (intrinsic['Fn::Select']) {
    const [
      index,
      {
        'Fn::Split': [delimiter, whole],
      },
    ] = intrinsic['Fn::Select'];
    return deployed(synth, whole).split(delimiter)[index]!;
  }
  if (intrinsic.Ref) {
    const listener = resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::Listener')[intrinsic.Ref]!;
    return deployedListenerArn(synth, referencedId(listener.Properties.LoadBalancerArn)!);
  }
  const [alb, attribute] = intrinsic['Fn::GetAtt']!;
  const attributes: Record<string, string> = {
    LoadBalancerFullName: deployedFullName(synth, alb),
    DNSName: deployedDnsName(alb),
    CanonicalHostedZoneID: ALB_ZONE_ID,
  };
  return attributes[attribute]!;
}

function environmentOf(synth: Synthesized, service: string): Record<string, unknown> {
  const fn = synth.template.toJSON().Resources[functionId(synth.template, service)] as CfnResource;
  return fn.Properties.Environment.Variables as Record<string, unknown>;
}

describe('dormouse.shards: 3', () => {
  let synth: Synthesized;

  beforeAll(() => {
    synth = synthesize({ ...PRODUCTION_CONFIG, shards: 3 });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it("lets the functions that place tenants (reconcile, sweep, wake) read every shard's slot counter in one BatchGetItem", () => {
    for (const service of ['dormouse-reconcile', 'dormouse-sweep', 'dormouse-wake']) {
      const actions = functionStatements(synth.template, functionId(synth.template, service)).flatMap((statement) =>
        asArray(statement.Action as string | string[]),
      );
      expect(actions, service).toContain('dynamodb:BatchGetItem');
    }
  });

  it('makes three load balancers, each with an HTTPS listener on the wildcard certificate', () => {
    const albs = resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(Object.keys(albs)).toHaveLength(3);
    const https = Object.values(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::Listener')).filter(
      (listener) => listener.Properties.Protocol === 'HTTPS',
    );
    expect(https.map((listener) => referencedId(listener.Properties.LoadBalancerArn)).sort()).toEqual(Object.keys(albs).sort());
    for (const listener of https) expect(listener.Properties.Certificates).toEqual([{ CertificateArn: CERTIFICATE_ARN }]);
  });

  it("sends every shard's unknown tenant hosts to the one wake function, which only those target groups may invoke", () => {
    const wake = functionId(synth.template, 'dormouse-wake');
    const groups = Object.entries(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
    expect(groups).toHaveLength(3);
    for (const [, group] of groups) expect(referencedId(group.Properties.Targets[0].Id)).toBe(wake);
    const names = groups.map(([, group]) => group.Properties.Name as string);
    const base = names.find((name) => name.endsWith('-wake'))!.slice(0, -'-wake'.length);
    expect(names.sort()).toEqual([`${base}-wake`, `${base}-wk1`, `${base}-wk2`].sort());
    for (const name of names) expect(name.length).toBeLessThanOrEqual(32);

    const catchAll = Object.values(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::ListenerRule')).filter(
      (rule) => rule.Properties.Priority === 50_000,
    );
    expect(catchAll.map((rule) => referencedId(rule.Properties.Actions[0].TargetGroupArn)).sort()).toEqual(groups.map(([id]) => id).sort());

    const permissions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Permission')).filter(
      (permission) => permission.Properties.Principal === 'elasticloadbalancing.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    expect(referencedId(permissions[0]!.Properties.FunctionName)).toBe(wake);
    expect(resolveForTest(permissions[0]!.Properties.SourceArn)).toMatch(new RegExp(`:targetgroup/${base}-w\\*/\\*$`));
    expect(permissions[0]!.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('makes no wildcard record: each tenant gets its own, from the reconciler', () => {
    expect(resourcesOf(synth.template, 'AWS::Route53::RecordSet')).toEqual({});
  });

  it("lets every shard's load balancer reach the tenant tasks", () => {
    const albGroups = Object.values(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')).map((alb) =>
      referencedId(alb.Properties.SecurityGroups[0]),
    );
    const ingress = Object.values(resourcesOf(synth.template, 'AWS::EC2::SecurityGroupIngress'))
      .filter((rule) => rule.Properties.Description === 'Load balancer to tenant app')
      .map((rule) => referencedId(rule.Properties.SourceSecurityGroupId));
    expect(ingress.sort()).toEqual(albGroups.sort());
  });

  it('tells the reconciler and the sweep the shards, their listeners and the zone, in shard order, and lets them describe the load balancers', () => {
    const albs = Object.keys(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const env = environmentOf(synth, service);
      expect(env.DORMOUSE_SHARDS, service).toBe('3');
      expect(env.DORMOUSE_HOSTED_ZONE_ID, service).toBe(ZONE_ID);
      // Each shard's listener and load balancer, once the loader has completed the shortened entries.
      const listenerArns = readListenerArns(deployed(synth, env.DORMOUSE_LISTENER_ARN).split(','), 3);
      const shardAlbs = listenerArns.map((arn) => arn.split('/')[2]!);
      expect([...shardAlbs].sort(), service).toEqual([...albs].sort());
      expect(listenerArns, service).toEqual(shardAlbs.map((alb) => deployedListenerArn(synth, alb)));
      // What a record may alias is read at cold start, with one DescribeLoadBalancers of the listeners' own load balancers.
      expect(env.DORMOUSE_SHARD_LOAD_BALANCERS, service).toBeUndefined();
      expect(listenerArns.map(loadBalancerArnOf), service).toEqual(
        shardAlbs.map((alb) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/${deployedFullName(synth, alb)}`),
      );
      const describe = functionStatements(synth.template, functionId(synth.template, service)).filter((statement) =>
        asArray(statement.Action).includes('elasticloadbalancing:DescribeLoadBalancers'),
      );
      expect(describe, service).toEqual([
        { Sid: 'ReadShardLoadBalancers', Effect: 'Allow', Action: 'elasticloadbalancing:DescribeLoadBalancers', Resource: '*' },
      ]);
    }
    // The sweep reads each shard's CloudWatch dimension off its listener ARN.
    const sweep = environmentOf(synth, 'dormouse-sweep');
    expect(sweep.DORMOUSE_LOAD_BALANCER_FULL_NAME).toBeUndefined();
    const { loadBalancerFullNames } = loadSweepConfig({
      DORMOUSE_SHARDS: '3',
      DORMOUSE_LISTENER_ARN: deployed(synth, sweep.DORMOUSE_LISTENER_ARN),
    });
    const listenerArns = readListenerArns(deployed(synth, sweep.DORMOUSE_LISTENER_ARN).split(','), 3);
    expect(loadBalancerFullNames).toEqual(listenerArns.map((arn) => deployedFullName(synth, arn.split('/')[2]!)));
    expect(environmentOf(synth, 'dormouse-wake').DORMOUSE_SHARDS).toBe('3');
  });

  it("lets the reconciler and the sweep change only A and AAAA records under the domain in this installation's zone, and read them", () => {
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const route53 = functionStatements(synth.template, functionId(synth.template, service)).filter((statement) =>
        asArray(statement.Action).some((action) => action.startsWith('route53:')),
      );
      expect(route53, service).toEqual([
        {
          Sid: 'ChangeTenantRecords',
          Effect: 'Allow',
          Action: 'route53:ChangeResourceRecordSets',
          Resource: ZONE_ARN,
          Condition: {
            'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['*.trials.example.com'] },
            'ForAllValues:StringEquals': {
              'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA'],
              'route53:ChangeResourceRecordSetsActions': ['CREATE', 'UPSERT', 'DELETE'],
            },
          },
        },
        { Sid: 'ReadTenantRecords', Effect: 'Allow', Action: 'route53:ListResourceRecordSets', Resource: ZONE_ARN },
      ]);
    }
    // Those four statements, and no other anywhere in the stack.
    const anywhere = identityStatements(synth.template).filter(({ statement }) =>
      asArray(statement.Action).some((action) => action.startsWith('route53:')),
    );
    expect(anywhere).toHaveLength(4);
  });

  it("lets the reconciler add host rules on every shard's listener, and delete them on every shard's load balancer", () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const create = statements.find((statement) => statement.Sid === 'CreateTenantRules')!;
    expect(asArray(create.Resource)).toHaveLength(3);
    const remove = statements.find((statement) => statement.Sid === 'DeleteTenantRules')!;
    expect(asArray(remove.Resource).map((resource) => resolveForTest(resource))).toEqual(
      expect.arrayContaining([expect.stringMatching(/listener-rule\/.+\/\*\/\*$/)]),
    );
    expect(asArray(remove.Resource)).toHaveLength(3);
  });

  it('passes cdk-nag', () => {
    const errors = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity === 'error');
    expect(errors).toEqual([]);
  });

  it('names every shard in the load balancer output', () => {
    const output = synth.template.toJSON().Outputs.LoadBalancerDnsName as { Value: unknown };
    const albs = Object.keys(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    expect(resolveForTest(output.Value).split(',').sort()).toEqual(albs.sort());
  });
});

describe('dormouse.shards in the configuration', () => {
  const minimal = { domain: 'trials.example.com', availabilityZones: ['us-east-1a', 'us-east-1b'] };

  it('is one by default', () => {
    expect(parseDormouseConfig(minimal).shards).toBe(1);
  });

  it('needs the hosted zone with more than one, and stays within 1 to 20', () => {
    const problems = (input: unknown) => {
      try {
        parseDormouseConfig(input);
        return [];
      } catch (error) {
        return (error as DormouseConfigError).problems;
      }
    };
    expect(problems({ ...minimal, shards: 2 })).toEqual([expect.stringMatching(/^dormouse\.shards: more than one needs hostedZoneId/)]);
    const zone = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };
    expect(problems({ ...minimal, ...zone, shards: 21 })).toEqual([
      expect.stringMatching(/^dormouse\.shards: must be a whole number from 1 to 20/),
    ]);
    expect(problems({ ...minimal, ...zone, shards: 2 })).toEqual([]);
  });
});

describe("dormouse.shards and Lambda's 4 KB environment", () => {
  /** The plans of cdk/README.md's example: the pro plan on an image and environment of its own. */
  const README_PLANS = [
    { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14, public: true },
    {
      name: 'pro',
      cpu: 1024,
      memory: 2048,
      capacity: 'on-demand',
      sleepAfterMinutes: 'never',
      image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/app-pro:2.0',
      environment: { APP_TIER: 'pro' },
      keepWarm: { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' },
    },
  ];
  const EXAMPLES_PLANS = JSON.parse(readFileSync(new URL('../../examples/plans.json', import.meta.url), 'utf8')) as unknown[];

  /** Every Lambda function of the stack with its environment's size, each ARN and name counted at its longest. */
  function sizes(synth: Synthesized): Record<string, number> {
    const functions = synth.stack.node.findAll().filter((construct): construct is LambdaFunction => construct instanceof LambdaFunction);
    return Object.fromEntries(functions.map((fn) => [fn.node.path, environmentSize(fn).total]));
  }

  it.each([
    ["cdk/README.md's example plans (one with an image of its own)", README_PLANS],
    ['examples/plans.json', EXAMPLES_PLANS],
  ])(
    "fits twenty shards with %s: every function's environment under 4 KB",
    (_name, plans) => {
      const synth = synthesize({ ...PRODUCTION_CONFIG, plans, shards: 20 });
      try {
        expect(Object.keys(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'))).toHaveLength(20);
        const measured = sizes(synth);
        expect(Object.keys(measured).length).toBeGreaterThanOrEqual(5);
        for (const [path, total] of Object.entries(measured)) expect(total, path).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
      } finally {
        synth.cleanup();
      }
    },
    240_000,
  );

  it('stops the synth when plans leave no room, naming the shards among what to shorten', () => {
    const more = Array.from({ length: 8 }, (_, index) => ({ ...README_PLANS[1], name: `pro-${index}`, image: undefined }));
    expect(() => synthesize({ ...PRODUCTION_CONFIG, plans: [...README_PLANS, ...more], shards: 20 })).toThrow(
      /The Sweep function's environment would take about \d+ bytes, over Lambda's 4096 .*use fewer dormouse\.shards/s,
    );
  }, 120_000);
});
