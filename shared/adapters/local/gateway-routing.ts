import { request as httpRequest, type ClientRequest } from 'node:http';
import { ForeignResourceError, TargetGroupInUseError, TargetGroupNotFoundError } from '../../domain/errors.js';
import { LOCAL_INSTALLATION } from '../../domain/installation.js';
import { explainHealthCheck } from '../../domain/health-reasons.js';
import type { RoutingInventory } from '../../ports/inventory.js';
import type { HostRule, Routing, Target, TargetHealth } from '../../ports/routing.js';
import { targetGroupName, type Owner } from '../common/names.js';

export interface GatewayRoutingOptions {
  /** In every target group name and tag, as on AWS. @default 'local' */
  installation?: string;
  /**
   * How target groups are named. @default the AWS adapter's `targetGroupName`. Tests replace it
   * to make two tenants' names collide and see the second refused.
   */
  targetGroupName?: (installation: string, tenantId: string) => string;
  /** @default '/' (the ALB's default, and the CDK app's) */
  healthCheckPath?: string;
  /** @default 1_000 */
  healthCheckIntervalMs?: number;
  /** How long a health check may take before it counts as failed. @default the interval, at most 2_000 */
  healthCheckTimeoutMs?: number;
  /** Successes in a row that make a target healthy. @default 1 */
  healthyThreshold?: number;
  /** Failures in a row that make a target unhealthy. @default 2 */
  unhealthyThreshold?: number;
  /** How long a deregistered target stays `draining` before it is removed. @default 1_000 */
  deregistrationDelayMs?: number;
}

export interface HealthChange {
  tenantId: string;
  targetGroupArn: string;
  ip: string;
  health: TargetHealth;
}

export interface RouteMatch {
  tenantId: string;
  /** `host:port` of a healthy target. */
  target: string;
}

/** What a gateway asks of its routing, once per request. */
export interface RouteLookup {
  /**
   * Where a request for `host` goes: its rule's target group, one of its healthy targets
   * (round robin). Undefined when there is no rule or no healthy target: the default action.
   * With `shard`, only that load balancer's rules count (a visitor whose DNS answer still names
   * it); without, the host's rule on whichever shard holds it (DNS up to date).
   */
  route(host: string, shard?: number): RouteMatch | undefined;
}

/** One rule for a host, with what the gateway needs of its target group: the healthy targets. */
export interface HostRoute {
  shard: number;
  priority: number;
  tenantId: string;
  /** `host:port` of each healthy target. */
  healthy: string[];
}

/**
 * The routing decision, host by host, in plain data: GatewayRouting keeps one, and a gateway on
 * a thread of its own keeps a copy that GatewayRouting's changes are sent to. Only the host's
 * own rules are looked at, so a request costs the same with one tenant or thousands.
 */
export class RouteTable implements RouteLookup {
  private readonly hosts = new Map<string, HostRoute[]>();
  private roundRobin = 0;

  constructor(entries: Iterable<[string, HostRoute[]]> = []) {
    for (const [host, routes] of entries) this.set(host, routes);
  }

  /** `host` is a hostname as `hostname()` gives it; no routes removes it. */
  set(host: string, routes: HostRoute[]): void {
    if (routes.length > 0) this.hosts.set(host, routes);
    else this.hosts.delete(host);
  }

  entries(): Array<[string, HostRoute[]]> {
    return [...this.hosts];
  }

  route(host: string, shard?: number): RouteMatch | undefined {
    const best = byPriority(this.hosts.get(hostname(host)) ?? [], shard);
    if (!best || best.healthy.length === 0) return undefined;
    this.roundRobin = (this.roundRobin + 1) % 1_000_000;
    return { tenantId: best.tenantId, target: best.healthy[this.roundRobin % best.healthy.length]! };
  }
}

interface TargetState {
  ip: string;
  health: TargetHealth;
  successes: number;
  failures: number;
  /** The last failed check, in ELBv2's words (TargetHealth Reason and Description). */
  lastFailure?: HealthCheckFailure;
  timer?: NodeJS.Timeout;
  probe?: ClientRequest;
}

interface HealthCheckFailure {
  code: 'Target.ResponseCodeMismatch' | 'Target.Timeout' | 'Target.FailedHealthChecks';
  description: string;
}

type ProbeResult = { passed: true } | { passed: false; failure: HealthCheckFailure };

/** The two tags, as the AWS adapters write them: whose the resource is. */
interface Tagged {
  tenantId: string;
  installation: string;
}

interface TargetGroup extends Tagged {
  arn: string;
  targets: Map<string, TargetState>;
}

interface Rule extends HostRule, Tagged {
  host: string;
  /** The shard (load balancer) whose listener holds the rule. */
  shard: number;
}

const ARN_PREFIX = 'local:targetgroup/';

/**
 * The load balancers of embedded mode, in memory: one target group and one host rule per
 * active tenant, like the ALB, with a listener per routing shard (rules are per shard, target
 * groups shared, as the reconciler never uses one group on two shards). Registered targets are probed with `GET <healthCheckPath>` and
 * move through `initial`, `healthy`, `unhealthy` and `draining` as ALB targets do, so the
 * reconciler waits for a task to serve before it routes to it, exactly as on AWS.
 */
export class GatewayRouting implements Routing, RoutingInventory, RouteLookup {
  private readonly installation: string;
  private readonly nameFor: (installation: string, tenantId: string) => string;
  private readonly healthCheckPath: string;
  private readonly healthCheckIntervalMs: number;
  private readonly healthCheckTimeoutMs: number;
  private readonly healthyThreshold: number;
  private readonly unhealthyThreshold: number;
  private readonly deregistrationDelayMs: number;

  private readonly groups = new Map<string, TargetGroup>();
  private readonly rules = new Map<string, Rule>();
  /** The same rules by host, kept in step with `rules`: a host's routes are computed from its own. */
  private readonly rulesByHost = new Map<string, Rule[]>();
  private readonly healthListeners = new Set<(change: HealthChange) => void>();
  /**
   * The routes of every host, refreshed whenever a host's rules or their targets' health change:
   * `route()` reads it, and a gateway thread keeps a copy of it.
   */
  private readonly table = new RouteTable();
  private readonly routeListeners = new Set<(host: string, routes: HostRoute[]) => void>();
  private readonly drainTimers = new Set<NodeJS.Timeout>();
  private ruleSequence = 0;
  private closed = false;

  constructor({
    installation = LOCAL_INSTALLATION,
    targetGroupName: nameFor = targetGroupName,
    healthCheckPath = '/',
    healthCheckIntervalMs = 1_000,
    healthCheckTimeoutMs = Math.min(healthCheckIntervalMs, 2_000),
    healthyThreshold = 1,
    unhealthyThreshold = 2,
    deregistrationDelayMs = 1_000,
  }: GatewayRoutingOptions = {}) {
    this.installation = installation;
    this.nameFor = nameFor;
    this.healthCheckPath = healthCheckPath;
    this.healthCheckIntervalMs = healthCheckIntervalMs;
    this.healthCheckTimeoutMs = healthCheckTimeoutMs;
    this.healthyThreshold = healthyThreshold;
    this.unhealthyThreshold = unhealthyThreshold;
    this.deregistrationDelayMs = deregistrationDelayMs;
  }

  /** Called on every change of a target's health; returns a function that unsubscribes. */
  onHealthChange(listener: (change: HealthChange) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /**
   * Called with a host's routes whenever they change (a rule made or deleted, a target of its
   * group turning healthy or not): what keeps a gateway thread's RouteTable in step. Returns a
   * function that unsubscribes.
   */
  onRoutesChange(listener: (host: string, routes: HostRoute[]) => void): () => void {
    this.routeListeners.add(listener);
    return () => this.routeListeners.delete(listener);
  }

  /** Every host's routes now: where a gateway thread's RouteTable starts. */
  routes(): Array<[string, HostRoute[]]> {
    return this.table.entries();
  }

  // ---- Routing port ---------------------------------------------------------------------------

  /**
   * The name is the AWS adapter's, so the ARN is deterministic and a repeat finds the group; as
   * on AWS, a group of that name is adopted only when its tags are this tenant's and installation's.
   */
  async ensureTargetGroup(tenantId: string): Promise<string> {
    const arn = this.targetGroupArn(tenantId);
    const existing = this.groups.get(arn);
    if (existing) return this.owned('target group', existing, tenantId).arn;
    this.groups.set(arn, { arn, tenantId, installation: this.installation, targets: new Map() });
    return arn;
  }

  async findTargetGroup(tenantId: string): Promise<string | undefined> {
    const existing = this.groups.get(this.targetGroupArn(tenantId));
    return existing ? this.owned('target group', existing, tenantId).arn : undefined;
  }

  /**
   * Like DescribeTargetHealth: a target group that does not exist is an error, not an empty one,
   * and an unhealthy target says why, from the same reason codes ELBv2 gives.
   */
  async targets(targetGroupArn: string): Promise<Target[]> {
    return [...this.requireGroup(targetGroupArn).targets.values()].map(({ ip, health, lastFailure }) => {
      const reason =
        health === 'unhealthy' && lastFailure
          ? explainHealthCheck(this.healthCheckPath, lastFailure.code, lastFailure.description)
          : undefined;
      return { ip, health, ...(reason ? { reason } : {}) };
    });
  }

  /** Registering a target again is a no-op, unless it was draining: then its checks start over. */
  async registerTarget(targetGroupArn: string, ip: string): Promise<void> {
    const group = this.requireGroup(targetGroupArn);
    const existing = group.targets.get(ip);
    if (existing && existing.health !== 'draining') return;
    const target: TargetState = { ip, health: 'initial', successes: 0, failures: 0 };
    group.targets.set(ip, target);
    this.changed(group, target);
    // The first check right away: a new task should not wait a whole interval to serve.
    this.scheduleCheck(group, target, 0);
  }

  async deregisterTarget(targetGroupArn: string, ip: string): Promise<void> {
    const group = this.groups.get(targetGroupArn);
    const target = group?.targets.get(ip);
    if (!group || !target || target.health === 'draining') return;
    this.stopChecks(target);
    target.health = 'draining';
    this.changed(group, target);
    const timer = setTimeout(() => {
      this.drainTimers.delete(timer);
      if (group.targets.get(ip) === target) group.targets.delete(ip);
    }, this.deregistrationDelayMs);
    timer.unref();
    this.drainTimers.add(timer);
  }

  /** Like ELBv2: a group a rule still forwards to cannot be deleted; a missing one is fine. */
  async deleteTargetGroup(targetGroupArn: string): Promise<void> {
    const group = this.groups.get(targetGroupArn);
    if (!group) return;
    if ([...this.rules.values()].some((rule) => rule.targetGroupArn === targetGroupArn)) {
      throw new TargetGroupInUseError(targetGroupArn);
    }
    for (const target of group.targets.values()) this.stopChecks(target);
    group.targets.clear();
    this.groups.delete(targetGroupArn);
  }

  async findRule(tenantId: string, host: string, _knownArn?: string, shard = 0): Promise<HostRule | undefined> {
    const rule = this.ruleFor(host, shard);
    return rule ? toHostRule(this.owned('rule', rule, tenantId)) : undefined;
  }

  /** Idempotent for the same host and group; priorities are simply the lowest free one. */
  async createRule(tenantId: string, host: string, targetGroupArn: string, shard = 0): Promise<HostRule> {
    this.requireGroup(targetGroupArn);
    const wanted = hostname(host);
    const same = this.rulesByHost.get(wanted)?.find((rule) => rule.shard === shard && rule.targetGroupArn === targetGroupArn);
    if (same) return toHostRule(same);
    const taken = new Set([...this.rules.values()].filter((rule) => rule.shard === shard).map((rule) => rule.priority));
    let priority = 1;
    while (taken.has(priority)) priority += 1;
    this.ruleSequence += 1;
    const rule: Rule = {
      arn: `local:listener-rule/${shard}/${this.ruleSequence}`,
      priority,
      targetGroupArn,
      host: wanted,
      shard,
      tenantId,
      installation: this.installation,
    };
    this.rules.set(rule.arn, rule);
    this.rulesByHost.set(wanted, [...(this.rulesByHost.get(wanted) ?? []), rule]);
    this.refreshRoutes(wanted);
    return toHostRule(rule);
  }

  async deleteRule(ruleArn: string): Promise<void> {
    const rule = this.rules.get(ruleArn);
    if (!rule) return;
    this.rules.delete(ruleArn);
    const others = this.rulesByHost.get(rule.host)!.filter((other) => other !== rule);
    if (others.length > 0) this.rulesByHost.set(rule.host, others);
    else this.rulesByHost.delete(rule.host);
    this.refreshRoutes(rule.host);
  }

  // ---- Drift repair, as the ELBv2 adapter offers it -------------------------------------------

  async managedTargetGroups(): Promise<Array<{ arn: string; tenantId: string }>> {
    return [...this.groups.values()]
      .filter((group) => group.installation === this.installation)
      .map(({ arn, tenantId }) => ({ arn, tenantId }));
  }

  async managedRules(): Promise<Array<HostRule & { tenantId: string }>> {
    return [...this.rules.values()]
      .filter((rule) => rule.installation === this.installation)
      .map((rule) => ({ ...toHostRule(rule), tenantId: rule.tenantId }));
  }

  // ---- For the gateway ------------------------------------------------------------------------

  route(host: string, shard?: number): RouteMatch | undefined {
    return this.table.route(host, shard);
  }

  /** Stops every health check; the routing table stays readable. */
  close(): void {
    this.closed = true;
    for (const group of this.groups.values()) for (const target of group.targets.values()) this.stopChecks(target);
    for (const timer of this.drainTimers) clearTimeout(timer);
    this.drainTimers.clear();
    this.healthListeners.clear();
  }

  // ---- Health checks --------------------------------------------------------------------------

  private scheduleCheck(group: TargetGroup, target: TargetState, delayMs: number): void {
    if (this.closed) return;
    target.timer = setTimeout(() => void this.check(group, target), delayMs);
    target.timer.unref();
  }

  private async check(group: TargetGroup, target: TargetState): Promise<void> {
    target.timer = undefined;
    const result = await this.probe(target);
    // Deregistered, re-registered or closed meanwhile: this result is about nothing current.
    const current = this.groups.get(group.arn) === group && group.targets.get(target.ip) === target;
    if (this.closed || !current || target.health === 'draining') return;
    if (result.passed) {
      target.successes += 1;
      target.failures = 0;
      target.lastFailure = undefined;
      if (target.health !== 'healthy' && target.successes >= this.healthyThreshold) {
        target.health = 'healthy';
        this.changed(group, target);
      }
    } else {
      target.failures += 1;
      target.successes = 0;
      target.lastFailure = result.failure;
      if (target.health !== 'unhealthy' && target.failures >= this.unhealthyThreshold) {
        target.health = 'unhealthy';
        this.changed(group, target);
      }
    }
    this.scheduleCheck(group, target, this.healthCheckIntervalMs);
  }

  /**
   * Passes on a 2xx or 3xx within the timeout, as the ALB matcher `200-399` does; a failure is
   * described with the reason code and description ELBv2 would give for it.
   */
  private probe(target: TargetState): Promise<ProbeResult> {
    return new Promise((resolve) => {
      const fail = (code: HealthCheckFailure['code'], description: string) => resolve({ passed: false, failure: { code, description } });
      let url: URL;
      try {
        url = new URL(this.healthCheckPath, `http://${target.ip}`);
      } catch {
        fail('Target.FailedHealthChecks', 'Health checks failed');
        return;
      }
      let timedOut = false;
      const req = httpRequest(
        url,
        {
          method: 'GET',
          agent: false,
          timeout: this.healthCheckTimeoutMs,
          headers: { 'user-agent': 'ELB-HealthChecker/2.0 (dormouse local)' },
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 400) resolve({ passed: true });
          else fail('Target.ResponseCodeMismatch', `Health checks failed with these codes: [${status}]`);
        },
      );
      target.probe = req;
      req.once('timeout', () => {
        timedOut = true;
        req.destroy(new Error('health check timed out'));
      });
      req.once('error', () =>
        timedOut ? fail('Target.Timeout', 'Request timed out') : fail('Target.FailedHealthChecks', 'Health checks failed'),
      );
      req.once('close', () => {
        if (target.probe === req) target.probe = undefined;
        fail(timedOut ? 'Target.Timeout' : 'Target.FailedHealthChecks', timedOut ? 'Request timed out' : 'Health checks failed');
      });
      req.end();
    });
  }

  private stopChecks(target: TargetState): void {
    clearTimeout(target.timer);
    target.timer = undefined;
    target.probe?.destroy();
    target.probe = undefined;
  }

  private changed(group: TargetGroup, target: TargetState): void {
    // Each host once, though it may have a rule to this group on more than one shard.
    const hosts = new Set<string>();
    for (const rule of this.rules.values()) if (rule.targetGroupArn === group.arn) hosts.add(rule.host);
    for (const host of hosts) this.refreshRoutes(host);
    const change: HealthChange = { tenantId: group.tenantId, targetGroupArn: group.arn, ip: target.ip, health: target.health };
    for (const listener of this.healthListeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure must not stop health checking for everyone else.
      }
    }
  }

  /** Recomputes `host`'s routes from its rules and their groups, and tells the listeners. */
  private refreshRoutes(host: string): void {
    const routes = (this.rulesByHost.get(host) ?? []).map((rule) => ({
      shard: rule.shard,
      priority: rule.priority,
      tenantId: rule.tenantId,
      healthy: [...(this.groups.get(rule.targetGroupArn)?.targets.values() ?? [])]
        .filter((target) => target.health === 'healthy')
        .map((target) => target.ip),
    }));
    this.table.set(host, routes);
    for (const listener of this.routeListeners) {
      try {
        listener(host, routes);
      } catch {
        // As with health listeners: one listener's failure must not stop the routing's own work.
      }
    }
  }

  /** `local:targetgroup/<the AWS name>`. */
  targetGroupArn(tenantId: string): string {
    return `${ARN_PREFIX}${this.nameFor(this.installation, tenantId)}`;
  }

  /** The resource when its tags are this tenant's and installation's; refused otherwise. */
  private owned<T extends Tagged>(kind: 'target group' | 'rule', resource: T & { arn: string }, tenantId: string): T {
    if (resource.tenantId !== tenantId || resource.installation !== this.installation) {
      const found: Owner = { tenantId: resource.tenantId, installation: resource.installation };
      throw new ForeignResourceError(kind, resource.arn, tenantId, found);
    }
    return resource;
  }

  private requireGroup(targetGroupArn: string): TargetGroup {
    const group = this.groups.get(targetGroupArn);
    if (!group) throw new TargetGroupNotFoundError(targetGroupArn);
    return group;
  }

  /** Host matching is case-insensitive and ignores a port. */
  private ruleFor(host: string, shard: number | undefined): Rule | undefined {
    return byPriority(this.rulesByHost.get(hostname(host)) ?? [], shard);
  }
}

/** The rule (or route) a host's request goes by: the lowest priority, among `shard`'s if one is given. */
function byPriority<T extends { shard: number; priority: number }>(candidates: Iterable<T>, shard: number | undefined): T | undefined {
  let best: T | undefined;
  for (const candidate of candidates) {
    if (shard !== undefined && candidate.shard !== shard) continue;
    if (!best || candidate.priority < best.priority) best = candidate;
  }
  return best;
}

/** `Acme.LocalHost:8080` → `acme.localhost`; `[::1]:8080` → `[::1]`. */
export function hostname(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1) || lower;
  return lower.replace(/:\d*$/, '');
}

function toHostRule({ arn, priority, targetGroupArn }: Rule): HostRule {
  return { arn, priority, targetGroupArn };
}
