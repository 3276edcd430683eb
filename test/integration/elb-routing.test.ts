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
import { ElbRouting, RoutingCapacityError } from '../../shared/adapters/aws/elb-routing.js';
import { TENANT_TAG, targetGroupName } from '../../shared/adapters/aws/names.js';

const elb = mockClient(ElasticLoadBalancingV2Client);

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2';
const VPC = 'vpc-0abc';
const TG = (name: string) => `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/${name}/6d0ecf831eec9f09`;
const RULE = (id: string) => `${LISTENER.replace(':listener/', ':listener-rule/')}/${id}`;
const ACME_TG = TG('dm-acme');
const ACME_HOST = 'acme.trial.example.com';

function routing(options: Partial<ConstructorParameters<typeof ElbRouting>[0]> = {}) {
  return new ElbRouting({ listenerArn: LISTENER, vpcId: VPC, port: 8080, healthCheckPath: '/healthz', ...options });
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

/** Answers DescribeTags with TENANT_TAG for the ARNs `tenantOf` names, and no tags otherwise. */
function tagsFrom(tenantOf: (arn: string) => string | undefined) {
  return (input: DescribeTagsCommandInput) => ({
    TagDescriptions: (input.ResourceArns ?? []).map((arn) => {
      const tenant = tenantOf(arn);
      return { ResourceArn: arn, Tags: tenant === undefined ? [{ Key: 'team', Value: 'web' }] : [{ Key: TENANT_TAG, Value: tenant }] };
    }),
  });
}

beforeEach(() => {
  elb.reset();
});

describe('ElbRouting target groups', () => {
  it('creates the tenant target group with an IP health check and a short deregistration delay', async () => {
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    const arn = await routing().ensureTargetGroup('acme');

    expect(arn).toBe(ACME_TG);
    expectSent(CreateTargetGroupCommand, {
      Name: 'dm-acme',
      Protocol: 'HTTP',
      Port: 8080,
      VpcId: VPC,
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPath: '/healthz',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      Matcher: { HttpCode: '200-399' },
      Tags: [{ Key: TENANT_TAG, Value: 'acme' }],
    });
    expectSent(ModifyTargetGroupAttributesCommand, {
      TargetGroupArn: ACME_TG,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '15' }],
    });
  });

  it('uses the configured health check and deregistration delay', async () => {
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });
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
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    await routing().ensureTargetGroup(slug);

    expect(elb).toHaveReceivedCommandWith(CreateTargetGroupCommand, {
      Name: targetGroupName(slug),
      Tags: [{ Key: TENANT_TAG, Value: slug }],
    });
  });

  it('falls back to the existing group when one with the same name has other settings', async () => {
    elb.on(CreateTargetGroupCommand).rejects(new DuplicateTargetGroupNameException({ message: 'A target group with the same name exists', ...meta }));
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG, TargetGroupName: 'dm-acme', VpcId: VPC }] });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});

    const arn = await routing().ensureTargetGroup('acme');

    expect(arn).toBe(ACME_TG);
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-acme'] });
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

    const error = await routing().ensureTargetGroup('acme').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RoutingCapacityError);
    expect(error).toMatchObject({ name: 'RoutingCapacityError', tenantId: 'acme', limit: 'TooManyTargetGroupsException', cause: limit });
  });

  it('finds the tenant group by its name', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: ACME_TG }] });

    expect(await routing().findTargetGroup('acme')).toBe(ACME_TG);
    expectSent(DescribeTargetGroupsCommand, { Names: ['dm-acme'] });
  });

  it('finds no group when ELBv2 reports it not found', async () => {
    elb.on(DescribeTargetGroupsCommand).rejects(new TargetGroupNotFoundException({ message: 'One or more target groups not found', ...meta }));

    expect(await routing().findTargetGroup('acme')).toBeUndefined();
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
          TargetHealth: { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [404]' },
        },
        { Target: { Id: '10.0.2.7', Port: 8080 }, TargetHealth: { State: 'unhealthy', Reason: 'Target.Timeout', Description: 'Request timed out' } },
        { Target: { Id: '10.0.3.9', Port: 8080 }, TargetHealth: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' } },
        { Target: { Id: '10.0.4.2', Port: 8080 }, TargetHealth: { State: 'initial', Reason: 'Elb.InitialHealthChecking', Description: 'Initial health checks in progress' } },
      ],
    });

    const targets = await routing().targets(ACME_TG);

    expect(targets).toEqual([
      {
        ip: '10.0.1.5',
        health: 'unhealthy',
        reason: 'The application does not answer GET /healthz with a 2xx or 3xx status (it answered 404). Make it answer there, or change the health check path.',
      },
      {
        ip: '10.0.2.7',
        health: 'unhealthy',
        reason: 'The application does not answer GET /healthz in time: the health check timed out. Check that it answers quickly on its port.',
      },
      {
        ip: '10.0.3.9',
        health: 'unhealthy',
        reason: 'The application does not answer GET /healthz: the health check could not connect or got no valid HTTP answer. Check that it listens on its port.',
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
    elb.on(DeleteTargetGroupCommand).resolvesOnce({}).rejectsOnce(new TargetGroupNotFoundException({ message: 'not found', ...meta }));

    await routing().deleteTargetGroup(ACME_TG);
    await routing().deleteTargetGroup(ACME_TG);

    expectSent(DeleteTargetGroupCommand, { TargetGroupArn: ACME_TG }, { TargetGroupArn: ACME_TG });
  });

  it('lets a group still in use by a rule fail its delete', async () => {
    elb.on(DeleteTargetGroupCommand).rejects(new ResourceInUseException({ message: 'Target group is currently in use by a listener or a rule', ...meta }));

    await expect(routing().deleteTargetGroup(ACME_TG)).rejects.toBeInstanceOf(ResourceInUseException);
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

    const rule = await routing().findRule(ACME_HOST);

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expectSent(
      DescribeRulesCommand,
      { ListenerArn: LISTENER, PageSize: 400 },
      { ListenerArn: LISTENER, PageSize: 400, Marker: 'page-2' },
    );
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

    expect(await routing().findRule(ACME_HOST)).toEqual({ arn: RULE('acme'), priority: 7, targetGroupArn: ACME_TG });
  });

  it('never returns the default rule and finds nothing when no rule names the host', async () => {
    // A default rule carries no conditions in practice; one here proves it is skipped anyway.
    const defaultWithHost = { ...DEFAULT_RULE, Conditions: [{ Field: 'host-header', Values: [ACME_HOST] }] };
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [defaultWithHost], NextMarker: 'page-2' })
      .resolvesOnce({ Rules: [otherHost, hostRule('path', 12, [{ Field: 'path-pattern', Values: [ACME_HOST] }])] });

    expect(await routing().findRule(ACME_HOST)).toBeUndefined();
    expect(elb).toHaveReceivedCommandTimes(DescribeRulesCommand, 2);
  });

  it('looks up the recorded rule by its ARN in one call instead of paging through the listener', async () => {
    const acme = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb.on(DescribeRulesCommand, { RuleArns: [RULE('acme')] }).resolves({ Rules: [acme] });

    const rule = await routing().findRule(ACME_HOST, RULE('acme'));

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expectSent(DescribeRulesCommand, { RuleArns: [RULE('acme')] });
  });

  it('searches the listener when the recorded rule is gone, in case another was made for the host', async () => {
    const replacement = hostRule('acme-2', 77, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb
      .on(DescribeRulesCommand)
      .rejectsOnce(new RuleNotFoundException({ message: 'One or more rules not found', ...meta }))
      .resolvesOnce({ Rules: [DEFAULT_RULE, replacement] });

    const rule = await routing().findRule(ACME_HOST, RULE('acme'));

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
      Tags: [{ Key: TENANT_TAG, Value: 'acme' }],
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

  it('adopts the rule a concurrent reconcile of the same tenant created instead of adding a twin', async () => {
    elb.on(CreateRuleCommand).rejects(new PriorityInUseException({ message: 'Priority in use', ...meta }));
    const twin = hostRule('acme', 4242, [{ Field: 'host-header', HostHeaderConfig: { Values: [ACME_HOST] } }], ACME_TG);
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE, twin] });

    const rule = await routing().createRule('acme', ACME_HOST, ACME_TG);

    expect(rule).toEqual({ arn: RULE('acme'), priority: 4242, targetGroupArn: ACME_TG });
    expect(elb).toHaveReceivedCommandTimes(CreateRuleCommand, 1);
  });

  it('gives up with a clear error after ten taken priorities', async () => {
    elb.on(CreateRuleCommand).rejects(new PriorityInUseException({ message: 'Priority in use', ...meta }));
    elb.on(DescribeRulesCommand).resolves({ Rules: [DEFAULT_RULE] });

    await expect(routing().createRule('acme', ACME_HOST, ACME_TG)).rejects.toThrow(/acme.*priorities .* were all in use/);

    const priorities = sentPriorities();
    expect(priorities).toHaveLength(10);
    expect(new Set(priorities).size).toBe(10);
    expect(priorities.every((p) => Number.isInteger(p) && p >= 1 && p <= 50_000)).toBe(true);
  });

  it.each([
    new TooManyRulesException({ message: 'You have reached the maximum number of rules', ...meta }),
    new TooManyTargetGroupsException({ message: 'Too many target groups', ...meta }),
    new TooManyUniqueTargetGroupsPerLoadBalancerException({ message: 'Too many target groups for this load balancer', ...meta }),
  ])('reports $name as a capacity error the reconciler can queue on', async (limit) => {
    elb.on(CreateRuleCommand).rejects(limit);

    const error = await routing().createRule('acme', ACME_HOST, ACME_TG).catch((e: unknown) => e);

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

    expect(elb).toHaveReceivedCommandWith(CreateRuleCommand, { Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [host] } }] });
  });

  it('deletes a rule, and a rule already gone counts as deleted', async () => {
    elb.on(DeleteRuleCommand).resolvesOnce({}).rejectsOnce(new RuleNotFoundException({ message: 'One or more rules not found', ...meta }));

    await routing().deleteRule(RULE('acme'));
    await routing().deleteRule(RULE('acme'));

    expectSent(DeleteRuleCommand, { RuleArn: RULE('acme') }, { RuleArn: RULE('acme') });
  });
});

describe('ElbRouting under throttling', () => {
  const operations: Array<[string, (r: ElbRouting) => Promise<unknown>]> = [
    ['ensureTargetGroup', (r) => r.ensureTargetGroup('acme')],
    ['findTargetGroup', (r) => r.findTargetGroup('acme')],
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
  it('lists the tagged tenant target groups in its VPC, asking for tags 20 ARNs at a time', async () => {
    const ours = Array.from({ length: 25 }, (_, i) => ({ TargetGroupArn: TG(`dm-t${i}`), TargetGroupName: `dm-t${i}`, VpcId: VPC }));
    elb
      .on(DescribeTargetGroupsCommand)
      .resolvesOnce({
        TargetGroups: [...ours.slice(0, 15), { TargetGroupArn: TG('web'), TargetGroupName: 'web', VpcId: VPC }],
        NextMarker: 'page-2',
      })
      .resolvesOnce({
        TargetGroups: [...ours.slice(15), { TargetGroupArn: TG('dm-elsewhere'), TargetGroupName: 'dm-elsewhere', VpcId: 'vpc-other' }],
      });
    // Every third group lost its tag (made by hand, say): it is not Dormouse's to repair.
    const tenantOf = (arn: string) => {
      const index = ours.findIndex((group) => group.TargetGroupArn === arn);
      return index >= 0 && index % 3 !== 0 ? `t${index}` : undefined;
    };
    elb.on(DescribeTagsCommand).callsFake(tagsFrom(tenantOf));

    const groups = await routing().managedTargetGroups();

    const arns = ours.map((group) => group.TargetGroupArn);
    expectSent(DescribeTargetGroupsCommand, { PageSize: 400 }, { PageSize: 400, Marker: 'page-2' });
    expectSent(DescribeTagsCommand, { ResourceArns: arns.slice(0, 20) }, { ResourceArns: arns.slice(20) });
    expect(groups).toEqual(
      ours.flatMap((group, i) => (i % 3 !== 0 ? [{ arn: group.TargetGroupArn, tenantId: `t${i}` }] : [])),
    );
  });

  it('lists the tagged host rules of the listener, asking for tags 20 ARNs at a time', async () => {
    const rules = Array.from({ length: 22 }, (_, i) =>
      hostRule(`t${i}`, i + 1, [{ Field: 'host-header', HostHeaderConfig: { Values: [`t${i}.trial.example.com`] } }]),
    );
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: [DEFAULT_RULE, ...rules.slice(0, 12)], NextMarker: 'page-2' })
      .resolvesOnce({ Rules: rules.slice(12) });
    elb.on(DescribeTagsCommand).callsFake(tagsFrom((arn) => {
      const index = rules.findIndex((rule) => rule.RuleArn === arn);
      return index >= 0 && index % 2 === 0 ? `t${index}` : undefined;
    }));

    const managed = await routing().managedRules();

    const arns = rules.map((rule) => rule.RuleArn as string);
    expectSent(DescribeTagsCommand, { ResourceArns: arns.slice(0, 20) }, { ResourceArns: arns.slice(20) });
    expect(managed).toEqual(
      rules.flatMap((rule, i) =>
        i % 2 === 0 ? [{ arn: rule.RuleArn, priority: i + 1, targetGroupArn: TG(`dm-t${i}`), tenantId: `t${i}` }] : [],
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
