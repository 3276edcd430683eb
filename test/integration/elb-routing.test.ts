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
  DuplicateTargetGroupNameException,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  InvalidTargetException,
  ModifyTargetGroupAttributesCommand,
  PriorityInUseException,
  RegisterTargetsCommand,
  ResourceInUseException,
  RuleNotFoundException,
  TargetGroupNotFoundException,
  TooManyRulesException,
  TooManyTargetGroupsException,
  TooManyUniqueTargetGroupsPerLoadBalancerException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DescribeTagsCommandInput, Rule, ServiceInputTypes } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { CATCH_ALL_RULE_PRIORITY, ElbRouting } from '../../shared/adapters/aws/elb-routing.js';
import { INSTALLATION_TAG, TENANT_TAG, targetGroupName } from '../../shared/adapters/common/names.js';
import { ForeignResourceError, RoutingCapacityError, TargetGroupInUseError } from '../../shared/domain/errors.js';

const elb = mockClient(ElasticLoadBalancingV2Client);

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2';
const VPC = 'vpc-0abc';
const TG = (name: string) => `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/${name}/6d0ecf831eec9f09`;
const RULE = (id: string) => `${LISTENER.replace(':listener/', ':listener-rule/')}/${id}`;
const INSTALLATION = 'prod';
const ACME_TG = TG('dm-prod-acme');
const ACME_HOST = 'acme.trial.example.com';

function routing(options: Partial<ConstructorParameters<typeof ElbRouting>[0]> = {}) {
  return new ElbRouting({
    installation: INSTALLATION,
    listenerArn: LISTENER,
    vpcId: VPC,
    port: 8080,
    healthCheckPath: '/healthz',
    ...options,
  });
}

const meta = { $metadata: {} };

/**
 * The matchers compare with objectContaining, which lets extra top-level fields through; the
 * strict comparison of every input makes "exact request" mean exact.
 */
function expectSent<I extends ServiceInputTypes>(command: new (input: I) => unknown, ...inputs: I[]): void {
  const commandClass = command as Parameters<typeof elb.commandCalls>[0];
  expect(elb).toHaveReceivedCommandTimes(commandClass, inputs.length);
  inputs.forEach((input, index) => expect(elb).toHaveReceivedNthCommandWith(commandClass, index + 1, input));
  expect(elb.commandCalls(commandClass).map((call) => call.args[0].input)).toStrictEqual(inputs);
}

function sentPriorities(): number[] {
  return elb.commandCalls(CreateRuleCommand).map((call) => call.args[0].input.Priority as number);
}

function hostRule(id: string, priority: number, condition: Rule['Conditions'], tg = TG(`dm-${id}`)): Rule {
  return {
    RuleArn: RULE(id),
    Priority: String(priority),
    IsDefault: false,
    Conditions: condition,
    Actions: [{ Type: 'forward', TargetGroupArn: tg, Order: 1 }],
  };
}

const DEFAULT_RULE: Rule = {
  RuleArn: RULE('default'),
  Priority: 'default',
  IsDefault: true,
  Conditions: [],
  Actions: [{ Type: 'forward', TargetGroupArn: TG('dormouse-wake') }],
};

/** Both owner tags, as Dormouse writes them. */
function ownerTags(tenant: string, installation = INSTALLATION) {
  return [
    { Key: TENANT_TAG, Value: tenant },
    { Key: INSTALLATION_TAG, Value: installation },
  ];
}

/**
 * Answers DescribeTags with both owner tags for the ARNs `tenantOf` names (in `installation`, or
 * this one), and with no Dormouse tags otherwise.
 */
function tagsFrom(tenantOf: (arn: string) => string | undefined, installationOf: (arn: string) => string = () => INSTALLATION) {
  return (input: DescribeTagsCommandInput) => ({
    TagDescriptions: (input.ResourceArns ?? []).map((arn) => {
      const tenant = tenantOf(arn);
      return { ResourceArn: arn, Tags: tenant === undefined ? [{ Key: 'team', Value: 'web' }] : ownerTags(tenant, installationOf(arn)) };
    }),
  });
}

/** Every resource is acme's of this installation. */
const allAcme = tagsFrom(() => 'acme');

beforeEach(() => {
  elb.reset();
});

describe('ElbRouting target groups', () => {
  it('creates the tenant target group with an IP health check, both owner tags and a short deregistration delay', async () => {
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    const arn = await routing().ensureTargetGroup('acme');

    expect(arn).toBe(ACME_TG);
    expectSent(CreateTargetGroupCommand, {
      Name: 'dm-prod-acme',
      Protocol: 'HTTP',
      Port: 8080,
      VpcId: VPC,
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPath: '/healthz',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      Matcher: { HttpCode: '200-399' },
      Tags: ownerTags('acme'),
    });
    // CreateTargetGroup answers with an existing group of that name too: the tags prove it is ours.
    expectSent(DescribeTagsCommand, { ResourceArns: [ACME_TG] });
    expectSent(ModifyTargetGroupAttributesCommand, {
      TargetGroupArn: ACME_TG,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '15' }],
    });
  });

  it('uses the configured health check and deregistration delay', async () => {
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    await routing({ healthCheckIntervalSeconds: 30, healthyThresholdCount: 3, deregistrationDelaySeconds: 5 }).ensureTargetGroup('acme');

    expect(elb).toHaveReceivedCommandWith(CreateTargetGroupCommand, { HealthCheckIntervalSeconds: 30, HealthyThresholdCount: 3 });
    expect(elb).toHaveReceivedCommandWith(ModifyTargetGroupAttributesCommand, {
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '5' }],
    });
  });

  it('names the group within the 32-character limit for a long slug', async () => {
    const slug = `a${'b'.repeat(39)}`;
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: TG('long') }] });
    elb.on(DescribeTagsCommand).callsFake(tagsFrom(() => slug));
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    await routing().ensureTargetGroup(slug);

    expect(elb).toHaveReceivedCommandWith(CreateTargetGroupCommand, {
      Name: targetGroupName(INSTALLATION, slug),
      Tags: ownerTags(slug),
    });
  });

  it('falls back to the existing group when one with the same name has other settings and is tagged as its own', async () => {
    elb
      .on(CreateTargetGroupCommand)
      .rejects(new DuplicateTargetGroupNameException({ message: 'A target group with the same name exists', ...meta }));
    elb
      .on(DescribeTargetGroupsCommand)
      .resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG, TargetGroupName: 'dm-prod-acme', VpcId: VPC }] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    const arn = await routing().ensureTargetGroup('acme');

    expect(arn).toBe(ACME_TG);
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-prod-acme'] });
    expectSent(DescribeTagsCommand, { ResourceArns: [ACME_TG] });
    expectSent(ModifyTargetGroupAttributesCommand, {
      TargetGroupArn: ACME_TG,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '15' }],
    });
  });

  it('refuses a same-named group in another VPC rather than adopting it', async () => {
    elb.on(CreateTargetGroupCommand).rejects(new DuplicateTargetGroupNameException({ message: 'duplicate', ...meta }));
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG, VpcId: 'vpc-other' }] });

    await expect(routing().ensureTargetGroup('acme')).rejects.toThrow(/vpc-other/);
    expect(elb).not.toHaveReceivedCommand(ModifyTargetGroupAttributesCommand);
  });

  it('reports the regional target group limit as a capacity error', async () => {
    const limit = new TooManyTargetGroupsException({ message: 'You have reached the maximum number of target groups', ...meta });
    elb.on(CreateTargetGroupCommand).rejects(limit);

    const error = await routing()
      .ensureTargetGroup('acme')
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RoutingCapacityError);
    expect(error).toMatchObject({ name: 'RoutingCapacityError', tenantId: 'acme', limit: 'TooManyTargetGroupsException', cause: limit });
  });

  it('finds the tenant group by its name and checks its tags', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);

    expect(await routing().findTargetGroup('acme')).toBe(ACME_TG);
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-prod-acme'] });
    expectSent(DescribeTagsCommand, { ResourceArns: [ACME_TG] });
  });

  it('spaces Describe* calls out to the given rate: past the burst each waits its turn instead of being sent at once', async () => {
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    const paced = routing({ describeRate: { burst: 2, perSecond: 10, maxWaitMs: 1_000 } });

    const started = Date.now();
    const sentAt: number[] = [];
    await Promise.all([1, 2, 3, 4].map(() => paced.targets(ACME_TG).then(() => sentAt.push(Date.now() - started))));

    expectSent(DescribeTargetHealthCommand, ...[1, 2, 3, 4].map(() => ({ TargetGroupArn: ACME_TG })));
    sentAt.sort((a, b) => a - b);
    // Two at once (the burst), then one per 100 ms.
    expect(sentAt[1]).toBeLessThan(50);
    expect(sentAt[2]).toBeGreaterThanOrEqual(100);
    expect(sentAt[3]).toBeGreaterThanOrEqual(200);
  });

  it('does not send a Describe* call whose turn is further off than it may wait, and fails it as throttled', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);
    const paced = routing({ describeRate: { burst: 1, perSecond: 1, maxWaitMs: 500 } });

    await expect(paced.findTargetGroup('acme')).rejects.toMatchObject({ name: 'PacedThrottlingException' });

    // DescribeTargetGroups took the one call of the burst; DescribeTags would have waited a second.
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-prod-acme'] });
    expect(elb).not.toHaveReceivedCommand(DescribeTagsCommand);
  });

  it('finds no group when ELBv2 reports it not found, without asking for tags', async () => {
    elb
      .on(DescribeTargetGroupsCommand)
      .rejects(new TargetGroupNotFoundException({ message: 'One or more target groups not found', ...meta }));

    expect(await routing().findTargetGroup('acme')).toBeUndefined();
    expect(elb).not.toHaveReceivedCommand(DescribeTagsCommand);
  });

  it('maps target health to ip and state', async () => {
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: '10.0.1.5', Port: 8080 }, TargetHealth: { State: 'healthy' } },
        { Target: { Id: '10.0.2.7', Port: 8080 }, TargetHealth: { State: 'initial', Reason: 'Elb.RegistrationInProgress' } },
        { Target: { Id: '10.0.3.9', Port: 8080 }, TargetHealth: { State: 'unhealthy.draining' } },
      ],
    });

    const targets = await routing().targets(ACME_TG);

    expect(targets).toEqual([
      { ip: '10.0.1.5', health: 'healthy' },
      { ip: '10.0.2.7', health: 'initial' },
      { ip: '10.0.3.9', health: 'draining' },
    ]);
    expectSent(DescribeTargetHealthCommand, { TargetGroupArn: ACME_TG });
  });

  it('says why an unhealthy target fails, from the reason ELBv2 gives, naming the health check path', async () => {
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        {
          Target: { Id: '10.0.1.5', Port: 8080 },
          TargetHealth: {
            State: 'unhealthy',
            Reason: 'Target.ResponseCodeMismatch',
            Description: 'Health checks failed with these codes: [404]',
          },
        },
        {
          Target: { Id: '10.0.2.7', Port: 8080 },
          TargetHealth: { State: 'unhealthy', Reason: 'Target.Timeout', Description: 'Request timed out' },
        },
        {
          Target: { Id: '10.0.3.9', Port: 8080 },
          TargetHealth: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' },
        },
        {
          Target: { Id: '10.0.4.2', Port: 8080 },
          TargetHealth: { State: 'initial', Reason: 'Elb.InitialHealthChecking', Description: 'Initial health checks in progress' },
        },
      ],
    });

    const targets = await routing().targets(ACME_TG);

    expect(targets).toEqual([
      {
        ip: '10.0.1.5',
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz with a 2xx or 3xx status (it answered 404). Make it answer there, or change the health check path.',
      },
      {
        ip: '10.0.2.7',
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz in time: the health check timed out. Check that it answers quickly on its port.',
      },
      {
        ip: '10.0.3.9',
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz: the health check could not connect or got no valid HTTP answer. Check that it listens on its port.',
      },
      { ip: '10.0.4.2', health: 'initial' },
    ]);
    expectSent(DescribeTargetHealthCommand, { TargetGroupArn: ACME_TG });
  });

  it('registers and deregisters the task IP on the application port', async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});

    await routing().registerTarget(ACME_TG, '10.0.1.5');
    await routing().deregisterTarget(ACME_TG, '10.0.1.5');

    expectSent(RegisterTargetsCommand, { TargetGroupArn: ACME_TG, Targets: [{ Id: '10.0.1.5', Port: 8080 }] });
    expectSent(DeregisterTargetsCommand, { TargetGroupArn: ACME_TG, Targets: [{ Id: '10.0.1.5', Port: 8080 }] });
  });

  it.each([
    ['the group is gone', new TargetGroupNotFoundException({ message: 'not found', ...meta })],
    ['the target is gone', new InvalidTargetException({ message: 'The target is not registered', ...meta })],
  ])('deregisters quietly when %s', async (_, error) => {
    elb.on(DeregisterTargetsCommand).rejects(error);

    await expect(routing().deregisterTarget(ACME_TG, '10.0.1.5')).resolves.toBeUndefined();
  });

  it('deletes a target group, and a group already gone counts as deleted', async () => {
    elb
      .on(DeleteTargetGroupCommand)
      .resolvesOnce({})
      .rejectsOnce(new TargetGroupNotFoundException({ message: 'not found', ...meta }));

    await routing().deleteTargetGroup(ACME_TG);
    await routing().deleteTargetGroup(ACME_TG);

    expectSent(DeleteTargetGroupCommand, { TargetGroupArn: ACME_TG }, { TargetGroupArn: ACME_TG });
  });

  it('lets a group still in use by a rule fail its delete', async () => {
    elb
      .on(DeleteTargetGroupCommand)
      .rejects(new ResourceInUseException({ message: 'Target group is currently in use by a listener or a rule', ...meta }));

    await expect(routing().deleteTargetGroup(ACME_TG)).rejects.toBeInstanceOf(TargetGroupInUseError);
  });
});

/** Two valid slugs that got the same target group name when names carried 32 bits of hash. */
const VICTIM = 'acme-corporation-production-trial-env';
const INTRUDER = 'acme-corporation-productionzodudz6aaa';

describe("ElbRouting never adopts what is not the tenant's", () => {
  const victimGroup = TG(targetGroupName(INSTALLATION, VICTIM));

  it('gives the two slugs that once collided target groups of their own', () => {
    expect(targetGroupName(INSTALLATION, INTRUDER)).not.toBe(targetGroupName(INSTALLATION, VICTIM));
  });

  it.each([
    ['another tenant', ownerTags(VICTIM)],
    ['another installation', ownerTags(INTRUDER, 'stage')],
    ['nobody (no Dormouse tags)', [{ Key: 'team', Value: 'web' }]],
  ])('refuses a group that CreateTargetGroup answers with but that is tagged for %s, and changes nothing', async (_, tags) => {
    // Prepare: ELBv2 answers CreateTargetGroup with an existing group of that name and settings.
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: victimGroup }] });
    elb.on(DescribeTagsCommand).resolves({ TagDescriptions: [{ ResourceArn: victimGroup, Tags: tags }] });

    // Act
    const error = await routing()
      .ensureTargetGroup(INTRUDER)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ForeignResourceError);
    expect((error as Error).message).toBe(
      `The target group ${targetGroupName(INSTALLATION, INTRUDER)} belongs to another tenant or installation; Dormouse will not use it for tenant ${INTRUDER}.`,
    );
    expectSent(CreateTargetGroupCommand, {
      Name: targetGroupName(INSTALLATION, INTRUDER),
      Protocol: 'HTTP',
      Port: 8080,
      VpcId: VPC,
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPath: '/healthz',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      Matcher: { HttpCode: '200-399' },
      Tags: ownerTags(INTRUDER),
    });
    expectSent(DescribeTagsCommand, { ResourceArns: [victimGroup] });
    expect(elb.commandCalls(ModifyTargetGroupAttributesCommand)).toHaveLength(0);
    expect(elb.calls()).toHaveLength(2);
  });

  it('refuses a same-named group with other settings that is tagged for another tenant', async () => {
    elb.on(CreateTargetGroupCommand).rejects(new DuplicateTargetGroupNameException({ message: 'duplicate', ...meta }));
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: victimGroup, VpcId: VPC }] });
    elb.on(DescribeTagsCommand).resolves({ TagDescriptions: [{ ResourceArn: victimGroup, Tags: ownerTags(VICTIM) }] });

    await expect(routing().ensureTargetGroup(INTRUDER)).rejects.toThrow(/belongs to another tenant or installation/);
    expectSent(DescribeTargetGroupsCommand, { Names: [targetGroupName(INSTALLATION, INTRUDER)] });
    expectSent(DescribeTagsCommand, { ResourceArns: [victimGroup] });
    expect(elb).not.toHaveReceivedCommand(ModifyTargetGroupAttributesCommand);
  });

  it('refuses to report a group found by name that is tagged for another installation, so nothing deletes it', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(DescribeTagsCommand).resolves({ TagDescriptions: [{ ResourceArn: ACME_TG, Tags: ownerTags('acme', 'stage') }] });

    await expect(routing().findTargetGroup('acme')).rejects.toBeInstanceOf(ForeignResourceError);
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-prod-acme'] });
    expectSent(DescribeTagsCommand, { ResourceArns: [ACME_TG] });
  });

  it('refuses a rule for the host that the listener holds but another tenant owns', async () => {
    const theirs = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], TG('dm-prod-other'));
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE, theirs] });
    elb.on(DescribeTagsCommand).resolves({ TagDescriptions: [{ ResourceArn: RULE('acme'), Tags: ownerTags('other') }] });

    await expect(routing().findRule('acme', ACME_HOST)).rejects.toThrow(
      /rule for host acme\.trial\.example\.com belongs to another tenant/,
    );
    expectSent(DescribeRulesCommand, { ListenerArn: LISTENER, PageSize: 400 });
    expectSent(DescribeTagsCommand, { ResourceArns: [RULE('acme')] });
  });

  it('does not adopt a foreign rule in the way of its priority either', async () => {
    elb.on(CreateRuleCommand).rejects(new PriorityInUseException({ message: 'Priority in use', ...meta }));
    const theirs = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE, theirs] });
    elb.on(DescribeTagsCommand).resolves({ TagDescriptions: [{ ResourceArn: RULE('acme'), Tags: ownerTags('acme', 'stage') }] });

    await expect(routing().createRule('acme', ACME_HOST, ACME_TG)).rejects.toBeInstanceOf(ForeignResourceError);
    expect(elb).toHaveReceivedCommandTimes(CreateRuleCommand, 1);
  });
});

describe('ElbRouting host rules', () => {
  const otherHost = hostRule('globex', 10, [{ Field: 'host-header', HostHeaderConfig: { Values: ['globex.trial.example.com'] } }]);

  it('finds a rule on the second page by its host-header values, skipping the default rule and other hosts', async () => {
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [DEFAULT_RULE, otherHost], NextMarker: 'page-2' })
      .resolvesOnce({
        Rules: [hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: ['www.acme.example', ACME_HOST] } }], ACME_TG)],
      });

    elb.on(DescribeTagsCommand).callsFake(allAcme);

    const rule = await routing().findRule('acme', ACME_HOST);

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expectSent(DescribeTagsCommand, { ResourceArns: [RULE('acme')] });
    expectSent(DescribeRulesCommand, { ListenerArn: LISTENER, PageSize: 400 }, { ListenerArn: LISTENER, PageSize: 400, Marker: 'page-2' });
  });

  it('matches legacy Values conditions and forward configs with weighted target groups', async () => {
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [otherHost], NextMarker: 'page-2' })
      .resolvesOnce({
        Rules: [
          {
            RuleArn: RULE('acme'),
            Priority: '7',
            Conditions: [{ Field: 'host-header', Values: [ACME_HOST] }],
            Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: ACME_TG, Weight: 1 }] } }],
          },
        ],
      });

    elb.on(DescribeTagsCommand).callsFake(allAcme);

    expect(await routing().findRule('acme', ACME_HOST)).toEqual({ arn: RULE('acme'), priority: 7, targetGroupArn: ACME_TG });
  });

  it('never returns the default rule and finds nothing when no rule names the host', async () => {
    // A default rule carries no conditions in practice; one here proves it is skipped anyway.
    const defaultWithHost = { ...DEFAULT_RULE, Conditions: [{ Field: 'host-header', Values: [ACME_HOST] }] };
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [defaultWithHost], NextMarker: 'page-2' })
      .resolvesOnce({ Rules: [otherHost, hostRule('path', 12, [{ Field: 'path-pattern', Values: [ACME_HOST] }])] });

    expect(await routing().findRule('acme', ACME_HOST)).toBeUndefined();
    expect(elb).toHaveReceivedCommandTimes(DescribeRulesCommand, 2);
  });

  it('looks up the recorded rule by its ARN in one call instead of paging through the listener', async () => {
    const acme = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb.on(DescribeRulesCommand, { RuleArns: [RULE('acme')] }).resolves({ Rules: [acme] });

    const rule = await routing().findRule('acme', ACME_HOST, RULE('acme'));

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expectSent(DescribeRulesCommand, { RuleArns: [RULE('acme')] });
    // The record names it: Dormouse made it (or checked it) before recording it.
    expect(elb).not.toHaveReceivedCommand(DescribeTagsCommand);
  });

  it('searches the listener when the recorded rule is gone, in case another was made for the host', async () => {
    const replacement = hostRule('acme-2', 77, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb
      .on(DescribeRulesCommand)
      .rejectsOnce(new RuleNotFoundException({ message: 'One or more rules not found', ...meta }))
      .resolvesOnce({ Rules: [DEFAULT_RULE, replacement] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);

    const rule = await routing().findRule('acme', ACME_HOST, RULE('acme'));

    expect(rule).toEqual({ arn: RULE('acme-2'), priority: 77, targetGroupArn: ACME_TG });
    expectSent(DescribeRulesCommand, { RuleArns: [RULE('acme')] }, { ListenerArn: LISTENER, PageSize: 400 });
  });

  it('creates a host rule forwarding to the tenant group, tagged, at a priority hashed from the tenant', async () => {
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: RULE('acme') }] });

    const rule = await routing().createRule('acme', ACME_HOST, ACME_TG);
    const [priority] = sentPriorities();

    expect(priority).toBeGreaterThanOrEqual(1);
    expect(priority).toBeLessThanOrEqual(50_000);
    expect(rule).toEqual({ arn: RULE('acme'), priority, targetGroupArn: ACME_TG });
    expectSent(CreateRuleCommand, {
      ListenerArn: LISTENER,
      Priority: priority,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: ACME_TG }],
      Tags: ownerTags('acme'),
    });
  });

  it('starts the same tenant at the same priority and different tenants elsewhere', async () => {
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: RULE('x') }] });

    await routing().createRule('acme', ACME_HOST, ACME_TG);
    await routing().createRule('acme', ACME_HOST, ACME_TG);
    for (const tenant of ['globex', 'initech', 'umbrella', 'hooli']) {
      await routing().createRule(tenant, `${tenant}.trial.example.com`, TG(`dm-${tenant}`));
    }

    const [first, again, ...others] = sentPriorities();
    expect(again).toBe(first);
    expect(new Set([first, ...others]).size).toBe(5);
  });

  it('tries another priority when the hashed one was taken meanwhile', async () => {
    elb
      .on(CreateRuleCommand)
      .rejectsOnce(new PriorityInUseException({ message: 'Priority 4242 is currently in use', ...meta }))
      .resolvesOnce({ Rules: [{ RuleArn: RULE('acme') }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE, otherHost] });

    const rule = await routing().createRule('acme', ACME_HOST, ACME_TG);
    const [first, second] = sentPriorities();

    expect(second).not.toBe(first);
    expect(second).toBeGreaterThanOrEqual(1);
    expect(second).toBeLessThanOrEqual(50_000);
    expect(rule).toEqual({ arn: RULE('acme'), priority: second, targetGroupArn: ACME_TG });
    expect(elb).toHaveReceivedCommandTimes(CreateRuleCommand, 2);
  });

  it('leaves priority 50000 to the catch-all rule that sends *.<domain> to the wake function', async () => {
    // Prepare: t5m9 is a slug whose hash lands on 50000 over the whole range.
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: RULE('t5m9') }] });

    // Act
    await routing().createRule('t5m9', 't5m9.trial.example.com', TG('dm-t5m9'));

    // Assess
    expect(CATCH_ALL_RULE_PRIORITY).toBe(50_000);
    expectSent(CreateRuleCommand, {
      ListenerArn: LISTENER,
      Priority: 3177,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['t5m9.trial.example.com'] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: TG('dm-t5m9') }],
      Tags: [
        { Key: TENANT_TAG, Value: 't5m9' },
        { Key: INSTALLATION_TAG, Value: 'prod' },
      ],
    });
  });

  it('adopts the rule a concurrent reconcile of the same tenant created instead of adding a twin', async () => {
    elb.on(CreateRuleCommand).rejects(new PriorityInUseException({ message: 'Priority in use', ...meta }));
    const twin = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE, twin] });
    elb.on(DescribeTagsCommand).callsFake(allAcme);

    const rule = await routing().createRule('acme', ACME_HOST, ACME_TG);

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expect(elb).toHaveReceivedCommandTimes(CreateRuleCommand, 1);
  });

  it('told no rule of its own can exist, tries the next priority when one is taken, without paging through the listener', async () => {
    elb
      .on(CreateRuleCommand)
      .rejectsOnce(new PriorityInUseException({ message: 'Priority in use', ...meta }))
      .resolves({ Rules: [{ RuleArn: RULE('acme') }] });

    const rule = await routing().createRule('acme', ACME_HOST, ACME_TG, 0, { adoptOnTaken: false });

    expect(rule.arn).toBe(RULE('acme'));
    expect(sentPriorities()).toHaveLength(2);
    expect(elb).not.toHaveReceivedCommand(DescribeRulesCommand);
  });

  it('gives up with a clear error after ten taken priorities', async () => {
    elb.on(CreateRuleCommand).rejects(new PriorityInUseException({ message: 'Priority in use', ...meta }));
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE] });

    await expect(routing().createRule('acme', ACME_HOST, ACME_TG)).rejects.toThrow(/acme.*priorities .* were all in use/);

    const priorities = sentPriorities();
    expect(priorities).toHaveLength(10);
    expect(new Set(priorities).size).toBe(10);
    expect(priorities.every((p) => Number.isInteger(p) && p >= 1 && p < CATCH_ALL_RULE_PRIORITY)).toBe(true);
  });

  it.each([
    new TooManyRulesException({ message: 'You have reached the maximum number of rules', ...meta }),
    new TooManyTargetGroupsException({ message: 'Too many target groups', ...meta }),
    new TooManyUniqueTargetGroupsPerLoadBalancerException({ message: 'Too many target groups for this load balancer', ...meta }),
  ])('reports $name as a capacity error the reconciler can queue on', async (limit) => {
    elb.on(CreateRuleCommand).rejects(limit);

    const error = await routing()
      .createRule('acme', ACME_HOST, ACME_TG)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RoutingCapacityError);
    expect(error).toMatchObject({ name: 'RoutingCapacityError', tenantId: 'acme', limit: limit.name, cause: limit });
    expect(elb).toHaveReceivedCommandTimes(CreateRuleCommand, 1);
  });

  it('rejects a host longer than 128 characters before calling AWS', async () => {
    const host = `${'a'.repeat(111)}.trial.example.com`;
    expect(host).toHaveLength(129);

    await expect(routing().createRule('acme', host, ACME_TG)).rejects.toThrow(/129 characters/);
    expect(elb).not.toHaveReceivedAnyCommand();
  });

  it('accepts a host of exactly 128 characters', async () => {
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: RULE('acme') }] });
    const host = `${'a'.repeat(110)}.trial.example.com`;
    expect(host).toHaveLength(128);

    await routing().createRule('acme', host, ACME_TG);

    expect(elb).toHaveReceivedCommandWith(CreateRuleCommand, {
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [host] } }],
    });
  });

  it('deletes a rule, and a rule already gone counts as deleted', async () => {
    elb
      .on(DeleteRuleCommand)
      .resolvesOnce({})
      .rejectsOnce(new RuleNotFoundException({ message: 'One or more rules not found', ...meta }));

    await routing().deleteRule(RULE('acme'));
    await routing().deleteRule(RULE('acme'));

    expectSent(DeleteRuleCommand, { RuleArn: RULE('acme') }, { RuleArn: RULE('acme') });
  });
});

describe('ElbRouting under throttling', () => {
  const operations: Array<[string, (r: ElbRouting) => Promise<unknown>]> = [
    ['ensureTargetGroup', (r) => r.ensureTargetGroup('acme')],
    ['findTargetGroup', (r) => r.findTargetGroup('acme')],
    ['findRule', (r) => r.findRule('acme', ACME_HOST)],
    ['deregisterTarget', (r) => r.deregisterTarget(ACME_TG, '10.0.1.5')],
    ['deleteTargetGroup', (r) => r.deleteTargetGroup(ACME_TG)],
    ['createRule', (r) => r.createRule('acme', ACME_HOST, ACME_TG)],
    ['deleteRule', (r) => r.deleteRule(RULE('acme'))],
  ];

  it.each(operations.flatMap(([operation, call]) => ['Throttling', 'ThrottlingException'].map((name) => ({ operation, call, name }))))(
    '$operation lets a $name error propagate',
    async ({ call, name }) => {
      const throttled = new ElasticLoadBalancingV2ServiceException({ name, $fault: 'client', message: 'Rate exceeded', ...meta });
      elb.onAnyCommand().rejects(throttled);

      await expect(call(routing({ client: new ElasticLoadBalancingV2Client({ maxAttempts: 1 }) }))).rejects.toBe(throttled);
    },
  );
});

describe('ElbRouting drift repair listings', () => {
  it("lists this installation's tagged tenant target groups in its VPC, asking for tags 20 ARNs at a time", async () => {
    const ours = Array.from({ length: 25 }, (_, i) => ({
      TargetGroupArn: TG(`dm-prod-t${i}`),
      TargetGroupName: `dm-prod-t${i}`,
      VpcId: VPC,
    }));
    elb
      .on(DescribeTargetGroupsCommand)
      .resolvesOnce({
        TargetGroups: [...ours.slice(0, 15), { TargetGroupArn: TG('web'), TargetGroupName: 'web', VpcId: VPC }],
        NextMarker: 'page-2',
      })
      .resolvesOnce({
        TargetGroups: [
          ...ours.slice(15),
          { TargetGroupArn: TG('dm-prod-elsewhere'), TargetGroupName: 'dm-prod-elsewhere', VpcId: 'vpc-other' },
          // Another installation's group in the same VPC: never even looked at.
          { TargetGroupArn: TG('dm-stage-t1'), TargetGroupName: 'dm-stage-t1', VpcId: VPC },
        ],
      });
    // Every third group lost its tags (made by hand, say), and one is tagged as another
    // installation's: neither is this installation's to repair.
    const tenantOf = (arn: string) => {
      const index = ours.findIndex((group) => group.TargetGroupArn === arn);
      return index >= 0 && index % 3 !== 0 ? `t${index}` : undefined;
    };
    elb.on(DescribeTagsCommand).callsFake(tagsFrom(tenantOf, (arn) => (arn === TG('dm-prod-t1') ? 'stage' : INSTALLATION)));

    const groups = await routing().managedTargetGroups();

    const arns = ours.map((group) => group.TargetGroupArn);
    expectSent(DescribeTargetGroupsCommand, { PageSize: 400 }, { PageSize: 400, Marker: 'page-2' });
    expectSent(DescribeTagsCommand, { ResourceArns: arns.slice(0, 20) }, { ResourceArns: arns.slice(20) });
    expect(groups).toEqual(ours.flatMap((group, i) => (i % 3 !== 0 && i !== 1 ? [{ arn: group.TargetGroupArn, tenantId: `t${i}` }] : [])));
  });

  it("lists this installation's tagged host rules of the listener, asking for tags 20 ARNs at a time", async () => {
    const rules = Array.from({ length: 22 }, (_, i) =>
      hostRule(`t${i}`, i + 1, [{ Field: 'host-header', HostHeaderConfig: { Values: [`t${i}.trial.example.com`] } }]),
    );
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [DEFAULT_RULE, ...rules.slice(0, 12)], NextMarker: 'page-2' })
      .resolvesOnce({ Rules: rules.slice(12) });
    elb.on(DescribeTagsCommand).callsFake(
      tagsFrom(
        (arn) => {
          const index = rules.findIndex((rule) => rule.RuleArn === arn);
          return index >= 0 && index % 2 === 0 ? `t${index}` : undefined;
        },
        (arn) => (arn === RULE('t4') ? 'stage' : INSTALLATION),
      ),
    );

    const managed = await routing().managedRules();

    const arns = rules.map((rule) => rule.RuleArn as string);
    expectSent(DescribeTagsCommand, { ResourceArns: arns.slice(0, 20) }, { ResourceArns: arns.slice(20) });
    expect(managed).toEqual(
      rules.flatMap((rule, i) =>
        i % 2 === 0 && i !== 4 ? [{ arn: rule.RuleArn, priority: i + 1, targetGroupArn: TG(`dm-t${i}`), tenantId: `t${i}` }] : [],
      ),
    );
  });

  it('makes no tag calls when nothing is listed', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE] });

    expect(await routing().managedTargetGroups()).toEqual([]);
    expect(await routing().managedRules()).toEqual([]);
    expect(elb).not.toHaveReceivedCommand(DescribeTagsCommand);
  });
});

describe('ElbRouting over several shards', () => {
  const SECOND = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse-1/60dc6c495c0c9188/a2f7dc8efc522ab2';
  const SECOND_RULE = (id: string) => `${SECOND.replace(':listener/', ':listener-rule/')}/${id}`;
  const sharded = () => routing({ listenerArn: [LISTENER, SECOND] });

  it("creates a tenant's rule on its shard's listener, and searches that listener only", async () => {
    elb.on(CreateRuleCommand).resolves({ Rules: [{ RuleArn: SECOND_RULE('acme') }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: [] });

    const rule = await sharded().createRule('acme', ACME_HOST, ACME_TG, 1);
    const found = await sharded().findRule('acme', ACME_HOST, undefined, 1);

    const [priority] = sentPriorities();
    expect(rule).toEqual({ arn: SECOND_RULE('acme'), priority, targetGroupArn: ACME_TG });
    expect(found).toBeUndefined();
    expectSent(CreateRuleCommand, {
      ListenerArn: SECOND,
      Priority: priority,
      Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: ACME_TG }],
      Tags: ownerTags('acme'),
    });
    expectSent(DescribeRulesCommand, { ListenerArn: SECOND, PageSize: 400 });
  });

  it("lists the rules of every shard's listener for drift repair", async () => {
    const first = hostRule('acme', 3, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    const second = { ...hostRule('globex', 3, [{ Field: 'host-header', HostHeaderConfig: { Values: ['globex.trial.example.com'] } }]) };
    second.RuleArn = SECOND_RULE('globex');
    elb.on(DescribeRulesCommand, { ListenerArn: LISTENER }).resolves({ Rules: [DEFAULT_RULE, first] });
    elb.on(DescribeRulesCommand, { ListenerArn: SECOND }).resolves({ Rules: [second] });
    elb.on(DescribeTagsCommand).callsFake(tagsFrom((arn) => (arn === SECOND_RULE('globex') ? 'globex' : 'acme')));

    const managed = await sharded().managedRules();

    expect(managed).toEqual([
      { arn: RULE('acme'), priority: 3, targetGroupArn: ACME_TG, tenantId: 'acme' },
      { arn: SECOND_RULE('globex'), priority: 3, targetGroupArn: TG('dm-globex'), tenantId: 'globex' },
    ]);
    expectSent(DescribeRulesCommand, { ListenerArn: LISTENER, PageSize: 400 }, { ListenerArn: SECOND, PageSize: 400 });
    expectSent(DescribeTagsCommand, { ResourceArns: [RULE('acme'), SECOND_RULE('globex')] });
  });

  it('refuses a shard it has no listener for, before calling AWS', async () => {
    await expect(sharded().createRule('acme', ACME_HOST, ACME_TG, 2)).rejects.toThrow(/No listener for shard 2/);
    expect(elb.calls()).toHaveLength(0);
  });
});
