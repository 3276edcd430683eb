import { createHash } from 'node:crypto';
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
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Rule, Tag, TargetGroup } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ForeignResourceError, RoutingCapacityError, TargetGroupInUseError, TargetGroupNotFoundError } from '../../domain/errors.js';
import { explainHealthCheck } from '../../domain/health-reasons.js';
import type { HostRule, Routing, Target, TargetHealth } from '../../ports/routing.js';
import { CallPacer, type CallRate } from './call-pacer.js';
import { ownerFromTags, ownerTags, targetGroupName, targetGroupPrefix, type Owner } from '../common/names.js';

/**
 * ALB rule priorities run from 1 to 50000. The last one is the catch-all rule for
 * `*.<domain>` that sends hosts without a tenant rule to the wake function (the CDK stack
 * creates it), so tenant rules take 1 to 49999 and never need to probe it.
 */
export const CATCH_ALL_RULE_PRIORITY = 50_000;
const MAX_PRIORITY = CATCH_ALL_RULE_PRIORITY - 1;
/**
 * Step between priority candidates after a collision. A prime that does not divide 49999, so
 * the probe sequence visits every priority before repeating one, and large, so a tenant's
 * probes land far from the neighbouring tenants' hashed starts.
 */
const PRIORITY_STRIDE = 7_919;
const PRIORITY_ATTEMPTS = 10;
/** ALB host-header condition values are at most 128 characters. */
const MAX_HOST_LENGTH = 128;
/** DescribeTags takes at most 20 ARNs per call. */
const TAGS_PER_CALL = 20;
/** The largest page DescribeRules and DescribeTargetGroups return. */
const PAGE_SIZE = 400;
const DEREGISTRATION_DELAY_ATTRIBUTE = 'deregistration_delay.timeout_seconds';

/** Limits of the load balancer or the account, not faults: the reconciler queues the tenant. */
const CAPACITY_EXCEPTIONS = [
  'TooManyRulesException',
  'TooManyTargetGroupsException',
  // The hard limit of 100 target groups per ALB surfaces on CreateRule under this name.
  'TooManyUniqueTargetGroupsPerLoadBalancerException',
];

export interface ElbRoutingOptions {
  client?: ElasticLoadBalancingV2Client;
  /** In every target group name and on every group and rule as INSTALLATION_TAG. */
  installation: string;
  /**
   * The ALB listener that holds one host rule per active tenant: one per shard, in shard order (a
   * single ARN is an installation of one shard).
   */
  listenerArn: string | readonly string[];
  /** The VPC tenant tasks run in; target groups are created in it. */
  vpcId: string;
  /** The port the tenant application listens on. */
  port: number;
  healthCheckPath: string;
  /** @default 10 */
  healthCheckIntervalSeconds?: number;
  /** @default 2 */
  healthyThresholdCount?: number;
  /** @default 15 — ELBv2's own 300 s would keep a passivated tenant's task draining for 5 minutes. */
  deregistrationDelaySeconds?: number;
  /**
   * Spaces this process's Describe* calls out to this rate (ELB throttles them per account, at 10
   * a second with a burst of 40): past it they wait their turn instead of being throttled.
   * Absent: sent at once.
   */
  describeRate?: CallRate;
}

/**
 * ELB's published throttle for its Describe* calls (per account and region: a burst of 40, 10 a
 * second), as the reconcile function paces them. A call waits at most 10 s for its turn, well
 * inside a reconcile's inline waits (20 s); the sweep's drift repair, which asks for the tags of
 * every rule and target group 20 at a time, makes more than the burst in one invocation.
 */
export const ELB_DESCRIBE_PACE: CallRate = { burst: 40, perSecond: 10, maxWaitMs: 10_000 };

export class ElbRouting implements Routing {
  private readonly client: ElasticLoadBalancingV2Client;
  private readonly installation: string;
  private readonly listenerArns: readonly string[];
  private readonly vpcId: string;
  private readonly port: number;
  private readonly healthCheckPath: string;
  private readonly healthCheckIntervalSeconds: number;
  private readonly healthyThresholdCount: number;
  private readonly deregistrationDelaySeconds: number;
  private readonly describePacer: CallPacer | undefined;

  constructor({
    client = new ElasticLoadBalancingV2Client({}),
    installation,
    listenerArn,
    vpcId,
    port,
    healthCheckPath,
    healthCheckIntervalSeconds = 10,
    healthyThresholdCount = 2,
    deregistrationDelaySeconds = 15,
    describeRate,
  }: ElbRoutingOptions) {
    this.describePacer = describeRate ? new CallPacer(describeRate) : undefined;
    this.client = client;
    this.installation = installation;
    this.listenerArns = typeof listenerArn === 'string' ? [listenerArn] : listenerArn;
    this.vpcId = vpcId;
    this.port = port;
    this.healthCheckPath = healthCheckPath;
    this.healthCheckIntervalSeconds = healthCheckIntervalSeconds;
    this.healthyThresholdCount = healthyThresholdCount;
    this.deregistrationDelaySeconds = deregistrationDelaySeconds;
  }

  /**
   * Creates the group, or adopts the one of this name only once its tags say it is this tenant's
   * of this installation: CreateTargetGroup answers with an existing group of the same name and
   * settings without looking at tags, so its answer alone proves nothing.
   */
  async ensureTargetGroup(tenantId: string): Promise<string> {
    const name = targetGroupName(this.installation, tenantId);
    let arn: string | undefined;
    try {
      // Same name and settings: ELBv2 answers with the existing group, so a retry is harmless.
      const { TargetGroups } = await this.client.send(
        new CreateTargetGroupCommand({
          Name: name,
          Protocol: 'HTTP',
          Port: this.port,
          VpcId: this.vpcId,
          TargetType: 'ip',
          HealthCheckProtocol: 'HTTP',
          HealthCheckPath: this.healthCheckPath,
          HealthCheckIntervalSeconds: this.healthCheckIntervalSeconds,
          HealthyThresholdCount: this.healthyThresholdCount,
          Matcher: { HttpCode: '200-399' },
          Tags: this.tags(tenantId),
        }),
      );
      arn = TargetGroups?.[0]?.TargetGroupArn;
    } catch (error) {
      if (isCapacityError(error)) throw new RoutingCapacityError(tenantId, error.name, { cause: error });
      // Same name, other settings (say, a health check changed since it was created): use it.
      if (!isAwsError(error, 'DuplicateTargetGroupNameException')) throw error;
      const existing = await this.describeTargetGroup(name);
      if (existing?.VpcId !== undefined && existing.VpcId !== this.vpcId) {
        // Names are unique per region, not per VPC: another installation owns this one.
        throw new Error(`Target group ${name} for tenant ${tenantId} exists in VPC ${existing.VpcId}, not in ${this.vpcId}`, {
          cause: error,
        });
      }
      arn = existing?.TargetGroupArn;
    }
    if (!arn) throw new Error(`ELBv2 returned no target group ARN for ${name} (tenant ${tenantId})`);
    await this.requireOwned('target group', name, arn, tenantId);
    // Set on every call rather than only at creation, so a crash between the two is repaired.
    await this.client.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: arn,
        Attributes: [{ Key: DEREGISTRATION_DELAY_ATTRIBUTE, Value: String(this.deregistrationDelaySeconds) }],
      }),
    );
    return arn;
  }

  /** The tenant's group by its name, checked by its tags: a foreign one is refused, not returned. */
  async findTargetGroup(tenantId: string): Promise<string | undefined> {
    const name = targetGroupName(this.installation, tenantId);
    const arn = (await this.describeTargetGroup(name))?.TargetGroupArn;
    if (arn) await this.requireOwned('target group', name, arn, tenantId);
    return arn;
  }

  async targets(targetGroupArn: string): Promise<Target[]> {
    // The reconciler treats a recorded group that is gone as absent and creates it again.
    await this.describeTurn('DescribeTargetHealth');
    const { TargetHealthDescriptions } = await aboutGroup(targetGroupArn, () =>
      this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn })),
    );
    return (TargetHealthDescriptions ?? []).flatMap(({ Target: target, TargetHealth: health }) => {
      if (target?.Id === undefined) return [];
      const state = toHealth(health?.State);
      // Only an unhealthy target's reason says something about the application.
      const reason = state === 'unhealthy' ? explainHealthCheck(this.healthCheckPath, health?.Reason, health?.Description) : undefined;
      return [{ ip: target.Id, health: state, ...(reason ? { reason } : {}) }];
    });
  }

  async registerTarget(targetGroupArn: string, ip: string): Promise<void> {
    await aboutGroup(targetGroupArn, () =>
      this.client.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: ip, Port: this.port }] })),
    );
  }

  async deregisterTarget(targetGroupArn: string, ip: string): Promise<void> {
    try {
      await this.client.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: ip, Port: this.port }] }));
    } catch (error) {
      // The group or the target is already gone: what deregistering was meant to achieve.
      if (!isAwsError(error, 'TargetGroupNotFoundException', 'InvalidTargetException')) throw error;
    }
  }

  /** TargetGroupInUseError while a rule still forwards to the group: delete the rule first. */
  async deleteTargetGroup(targetGroupArn: string): Promise<void> {
    try {
      await this.client.send(new DeleteTargetGroupCommand({ TargetGroupArn: targetGroupArn }));
    } catch (error) {
      if (isAwsError(error, 'ResourceInUseException')) throw new TargetGroupInUseError(targetGroupArn, { cause: error });
      if (!isAwsError(error, 'TargetGroupNotFoundException')) throw error;
    }
  }

  /**
   * The recorded rule is trusted (Dormouse made or checked it before recording it); one found by
   * its host on the listener is used only once its tags say it is `tenantId`'s of this installation.
   */
  async findRule(tenantId: string, host: string, knownArn?: string, shard = 0): Promise<HostRule | undefined> {
    const listenerArn = this.listenerOf(shard);
    const wanted = host.toLowerCase();
    if (knownArn) {
      // One call instead of paging through every rule of the listener (up to 100 per ALB).
      try {
        await this.describeTurn('DescribeRules');
        const { Rules = [] } = await this.client.send(new DescribeRulesCommand({ RuleArns: [knownArn] }));
        const rule = Rules.find((candidate) => hostsOf(candidate).some((value) => value.toLowerCase() === wanted));
        if (rule) return toHostRule(rule);
      } catch (error) {
        if (!isAwsError(error, 'RuleNotFoundException')) throw error;
      }
      // The recorded rule is gone: another for the host may have been made since; search.
    }
    for await (const rule of this.listenerRules(listenerArn)) {
      if (!hostsOf(rule).some((value) => value.toLowerCase() === wanted)) continue;
      const found = toHostRule(rule);
      if (found) await this.requireOwned('rule', `for host ${host}`, found.arn, tenantId);
      return found;
    }
    return undefined;
  }

  async createRule(
    tenantId: string,
    host: string,
    targetGroupArn: string,
    shard = 0,
    { adoptOnTaken = true }: { adoptOnTaken?: boolean } = {},
  ): Promise<HostRule> {
    const listenerArn = this.listenerOf(shard);
    if (host.length === 0 || host.length > MAX_HOST_LENGTH) {
      throw new RangeError(
        `Host "${host}" for tenant ${tenantId} is ${host.length} characters; an ALB host condition takes 1 to ${MAX_HOST_LENGTH}`,
      );
    }
    const tried: number[] = [];
    let priority = initialPriority(tenantId);
    for (let attempt = 1; attempt <= PRIORITY_ATTEMPTS; attempt++) {
      tried.push(priority);
      try {
        const { Rules } = await this.client.send(
          new CreateRuleCommand({
            ListenerArn: listenerArn,
            Priority: priority,
            Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: [host] } }],
            Actions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
            Tags: this.tags(tenantId),
          }),
        );
        const arn = Rules?.[0]?.RuleArn;
        if (!arn) throw new Error(`ELBv2 returned no rule ARN for host ${host} (tenant ${tenantId})`);
        return { arn, priority, targetGroupArn };
      } catch (error) {
        if (isCapacityError(error)) throw new RoutingCapacityError(tenantId, error.name, { cause: error });
        if (!isAwsError(error, 'PriorityInUseException')) throw error;
        // A concurrent reconcile of the same tenant probes the same priorities, so the rule
        // in the way may be the one we are about to create: adopt it rather than add a twin.
        const existing = adoptOnTaken ? await this.findRule(tenantId, host, undefined, shard) : undefined;
        if (existing) return existing;
        priority = ((priority - 1 + PRIORITY_STRIDE) % MAX_PRIORITY) + 1;
      }
    }
    throw new Error(`Could not create the rule for host ${host} (tenant ${tenantId}): priorities ${tried.join(', ')} were all in use`);
  }

  async deleteRule(ruleArn: string): Promise<void> {
    try {
      await this.client.send(new DeleteRuleCommand({ RuleArn: ruleArn }));
    } catch (error) {
      if (!isAwsError(error, 'RuleNotFoundException')) throw error;
    }
  }

  /**
   * This installation's tenant target groups, for drift repair: named with its prefix, in its VPC,
   * and tagged with its installation id and a tenant. Nothing else is ever offered for removal.
   */
  async managedTargetGroups(): Promise<Array<{ arn: string; tenantId: string }>> {
    const prefix = targetGroupPrefix(this.installation);
    const arns: string[] = [];
    let marker: string | undefined;
    do {
      await this.describeTurn('DescribeTargetGroups');
      const page = await this.client.send(new DescribeTargetGroupsCommand({ PageSize: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) }));
      for (const group of page.TargetGroups ?? []) {
        if (group.TargetGroupArn && group.VpcId === this.vpcId && group.TargetGroupName?.startsWith(prefix)) {
          arns.push(group.TargetGroupArn);
        }
      }
      marker = page.NextMarker;
    } while (marker);
    const tenants = await this.tenantTags(arns);
    return arns.flatMap((arn) => {
      const tenantId = tenants.get(arn);
      return tenantId === undefined ? [] : [{ arn, tenantId }];
    });
  }

  /** Host rules on every shard's listener that this installation created (by their tags), for drift repair. */
  async managedRules(): Promise<Array<HostRule & { tenantId: string }>> {
    const rules: HostRule[] = [];
    for (const listenerArn of this.listenerArns) {
      for await (const rule of this.listenerRules(listenerArn)) {
        const hostRule = toHostRule(rule);
        if (hostRule) rules.push(hostRule);
      }
    }
    const tenants = await this.tenantTags(rules.map((rule) => rule.arn));
    return rules.flatMap((rule) => {
      const tenantId = tenants.get(rule.arn);
      return tenantId === undefined ? [] : [{ ...rule, tenantId }];
    });
  }

  private async describeTargetGroup(name: string): Promise<TargetGroup | undefined> {
    try {
      await this.describeTurn('DescribeTargetGroups');
      const { TargetGroups } = await this.client.send(new DescribeTargetGroupsCommand({ Names: [name] }));
      return TargetGroups?.[0];
    } catch (error) {
      if (isAwsError(error, 'TargetGroupNotFoundException')) return undefined;
      throw error;
    }
  }

  /** A shard's listener; a shard this installation does not have is a programming error. */
  private listenerOf(shard: number): string {
    const arn = this.listenerArns[shard];
    if (arn === undefined) throw new RangeError(`No listener for shard ${shard}: this installation has ${this.listenerArns.length}`);
    return arn;
  }

  /** A listener's rules, default rule excluded, page by page. */
  private async *listenerRules(listenerArn: string): AsyncGenerator<Rule> {
    let marker: string | undefined;
    do {
      await this.describeTurn('DescribeRules');
      const page = await this.client.send(
        new DescribeRulesCommand({
          ListenerArn: listenerArn,
          PageSize: PAGE_SIZE,
          ...(marker ? { Marker: marker } : {}),
        }),
      );
      for (const rule of page.Rules ?? []) {
        if (!rule.IsDefault && rule.Priority !== 'default') yield rule;
      }
      marker = page.NextMarker;
    } while (marker);
  }

  /** The tenant of each resource tagged as a tenant's of this installation. */
  private async tenantTags(arns: string[]): Promise<Map<string, string>> {
    const tenants = new Map<string, string>();
    for (let start = 0; start < arns.length; start += TAGS_PER_CALL) {
      for (const [arn, owner] of await this.owners(arns.slice(start, start + TAGS_PER_CALL))) {
        if (owner.installation === this.installation && owner.tenantId !== undefined) tenants.set(arn, owner.tenantId);
      }
    }
    return tenants;
  }

  /** Who the tags of each resource (at most 20) name. */
  private async owners(arns: string[]): Promise<Map<string, Owner>> {
    await this.describeTurn('DescribeTags');
    const { TagDescriptions } = await this.client.send(new DescribeTagsCommand({ ResourceArns: arns }));
    const owners = new Map<string, Owner>();
    for (const { ResourceArn, Tags } of TagDescriptions ?? []) {
      if (ResourceArn) owners.set(ResourceArn, ownerFromTags(Tags?.map((tag) => ({ key: tag.Key, value: tag.Value }))));
    }
    return owners;
  }

  /** Refuses a resource found by name or host unless both tags name this tenant and installation. */
  private async requireOwned(kind: 'target group' | 'rule', resource: string, arn: string, tenantId: string): Promise<void> {
    const owner = (await this.owners([arn])).get(arn) ?? { tenantId: undefined, installation: undefined };
    if (owner.tenantId !== tenantId || owner.installation !== this.installation) {
      throw new ForeignResourceError(kind, resource, tenantId, owner);
    }
  }

  /** Waits for a Describe* call's turn under `describeRate`. */
  private async describeTurn(operation: string): Promise<void> {
    await this.describePacer?.turn(`ELBv2 ${operation}`);
  }

  private tags(tenantId: string): Tag[] {
    return ownerTags(this.installation, tenantId).map(({ key, value }) => ({ Key: key, Value: value }));
  }
}

/**
 * Spreads tenants over the priority range, so concurrent reconciles of different tenants
 * rarely try the same priority; the same tenant always starts at the same one.
 */
function initialPriority(tenantId: string): number {
  return (createHash('sha256').update(tenantId).digest().readUInt32BE(0) % MAX_PRIORITY) + 1;
}

function hostsOf(rule: Rule): string[] {
  return (
    (rule.Conditions ?? [])
      .filter((condition) => condition.Field === 'host-header')
      // Rules created through the legacy API carry their values in `Values` only.
      .flatMap((condition) => condition.HostHeaderConfig?.Values ?? condition.Values ?? [])
  );
}

/**
 * A rule whose forward target is missing (edited by hand) keeps an empty target group ARN,
 * so drift repair sees it differ from the record instead of losing sight of the rule.
 */
function toHostRule(rule: Rule): HostRule | undefined {
  if (!rule.RuleArn) return undefined;
  const forward = rule.Actions?.find((action) => action.Type === 'forward');
  const targetGroupArn = forward?.TargetGroupArn ?? forward?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn ?? '';
  return { arn: rule.RuleArn, priority: Number(rule.Priority), targetGroupArn };
}

function toHealth(state: string | undefined): TargetHealth {
  switch (state) {
    case 'initial':
    case 'healthy':
    case 'unhealthy':
    case 'unused':
    case 'draining':
    case 'unavailable':
      return state;
    case 'unhealthy.draining':
      return 'draining';
    default:
      return 'unavailable';
  }
}

/**
 * Matched by name rather than class: throttling has no class of its own, and a name also
 * matches errors built by another copy of the SDK.
 */
function isAwsError(error: unknown, ...names: string[]): error is Error {
  return error instanceof Error && names.includes(error.name);
}

function isCapacityError(error: unknown): error is Error {
  return isAwsError(error, ...CAPACITY_EXCEPTIONS);
}

/** Runs a call about one target group; a group that is gone becomes TargetGroupNotFoundError. */
async function aboutGroup<T>(targetGroupArn: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw isAwsError(error, 'TargetGroupNotFoundException') ? new TargetGroupNotFoundError(targetGroupArn, { cause: error }) : error;
  }
}
