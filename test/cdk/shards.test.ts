import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DormouseConfigError, parseDormouseConfig } from '../../cdk/config.js';
import { LAMBDA_ENVIRONMENT_LIMIT, environmentSize } from '../../cdk/environment-size.js';
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

  it('tells the reconciler and the sweep the shards, their listeners, load balancers and the zone, in shard order', () => {
    const albs = Object.keys(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    const listeners = Object.entries(resourcesOf(synth.template, 'AWS::ElasticLoadBalancingV2::Listener'))
      .filter(([, listener]) => listener.Properties.Protocol === 'HTTPS')
      .map(([id, listener]) => [referencedId(listener.Properties.LoadBalancerArn), id]);
    const listenerOf = Object.fromEntries(listeners);
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const env = environmentOf(synth, service);
      expect(env.DORMOUSE_SHARDS, service).toBe('3');
      expect(env.DORMOUSE_HOSTED_ZONE_ID, service).toBe(ZONE_ID);
      // `<dnsName>@<canonicalHostedZoneId>` of each load balancer, which the stand-ins name by logical id.
      const shardAlbs = resolveForTest(env.DORMOUSE_SHARD_LOAD_BALANCERS)
        .split(',')
        .map((item) => item.split('@')[0]!);
      expect(shardAlbs, service).toHaveLength(3);
      expect(resolveForTest(env.DORMOUSE_SHARD_LOAD_BALANCERS).split(','), service).toEqual(shardAlbs.map((alb) => `${alb}@${alb}`));
      expect(resolveForTest(env.DORMOUSE_LISTENER_ARN).split(','), service).toEqual(shardAlbs.map((alb) => listenerOf[alb]));
      expect([...shardAlbs].sort()).toEqual([...albs].sort());
    }
    expect(resolveForTest(environmentOf(synth, 'dormouse-sweep').DORMOUSE_LOAD_BALANCER_FULL_NAME).split(',')).toHaveLength(3);
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
              'route53:ChangeResourceRecordSetsActions': ['UPSERT', 'DELETE'],
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
  it('fits five shards with the example plans, each ARN counted at its longest', () => {
    const synth = synthesize({ ...PRODUCTION_CONFIG, shards: 5 });
    try {
      const { reconcile, sweep } = synth.stack.controlPlane;
      expect(environmentSize(sweep).total).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
      expect(environmentSize(reconcile).total).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
    } finally {
      synth.cleanup();
    }
  }, 120_000);

  it('stops the synth at eleven, naming the shards among what to shorten', () => {
    expect(() => synthesize({ ...PRODUCTION_CONFIG, shards: 11 })).toThrow(
      /The Sweep function's environment would take about \d+ bytes, over Lambda's 4096 .*use fewer dormouse\.shards/s,
    );
  }, 120_000);
});
