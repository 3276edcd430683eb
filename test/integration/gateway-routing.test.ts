import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/adapters/local/dynamodb-local.js';
import { GatewayRouting, type GatewayRoutingOptions, type HealthChange } from '../../shared/adapters/local/gateway-routing.js';
import { targetGroupName } from '../../shared/adapters/common/names.js';
import { ForeignResourceError } from '../../shared/domain/errors.js';
import type { TargetHealth } from '../../shared/ports/routing.js';
import { startTestServer, waitFor, type TestServer } from '../support/local.js';

const routings: GatewayRouting[] = [];
const servers: TestServer[] = [];

afterEach(async () => {
  for (const routing of routings.splice(0)) routing.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function newRouting(options: GatewayRoutingOptions = {}) {
  const routing = new GatewayRouting({ healthCheckIntervalMs: 50, healthCheckTimeoutMs: 200, deregistrationDelayMs: 100, ...options });
  routings.push(routing);
  const changes: HealthChange[] = [];
  routing.onHealthChange((change) => changes.push(change));
  return { routing, changes };
}

/** A target whose health check answers `status` (or never answers, for `hang`), counting checks. */
async function target(initial: number | 'hang' = 200) {
  const state = { status: initial, checks: 0, paths: [] as string[], userAgents: [] as string[] };
  const server = await startTestServer((req, res) => {
    state.checks += 1;
    state.paths.push(req.url ?? '');
    state.userAgents.push(req.headers['user-agent'] ?? '');
    if (state.status === 'hang') return;
    res.writeHead(state.status, state.status >= 300 && state.status < 400 ? { location: '/elsewhere' } : {});
    res.end();
  });
  servers.push(server);
  return { ip: server.ip, state, server };
}

async function healthOf(routing: GatewayRouting, arn: string, ip: string): Promise<TargetHealth | undefined> {
  return (await routing.targets(arn)).find((candidate) => candidate.ip === ip)?.health;
}

async function until(routing: GatewayRouting, arn: string, ip: string, health: TargetHealth | undefined, timeoutMs = 5_000) {
  await waitFor(
    `${ip} to be ${health ?? 'gone'}`,
    async () => ((await healthOf(routing, arn, ip)) === health ? true : undefined),
    timeoutMs,
  );
}

describe('GatewayRouting target groups', () => {
  it('creates one target group per tenant with a deterministic ARN, and finds it again', async () => {
    const { routing } = newRouting();
    expect(await routing.findTargetGroup('acme')).toBeUndefined();

    const arn = await routing.ensureTargetGroup('acme');

    expect(arn).toBe('local:targetgroup/dm-local-acme');
    expect(await routing.ensureTargetGroup('acme')).toBe(arn);
    expect(await routing.findTargetGroup('acme')).toBe(arn);
    expect(await routing.managedTargetGroups()).toEqual([{ arn, tenantId: 'acme' }]);
    // Names follow the AWS adapter's: a long slug is shortened with a hash, still unique.
    expect(await routing.ensureTargetGroup('a'.repeat(40))).toMatch(/^local:targetgroup\/dm-local-a--[a-z2-7]{20}$/);
  });

  it('refuses a target for a group that does not exist, like ELBv2', async () => {
    const { routing } = newRouting();

    await expect(routing.registerTarget('local:targetgroup/dm-nobody', '127.0.0.1:1')).rejects.toMatchObject({
      name: 'TargetGroupNotFoundError',
    });
  });

  it('refuses to delete a group a rule forwards to, and deletes it (idempotently) once the rule is gone', async () => {
    const { routing } = newRouting();
    const arn = await routing.ensureTargetGroup('acme');
    const rule = await routing.createRule('acme', 'acme.localhost', arn);

    await expect(routing.deleteTargetGroup(arn)).rejects.toMatchObject({ name: 'TargetGroupInUseError' });
    await routing.deleteRule(rule.arn);
    await routing.deleteTargetGroup(arn);
    await routing.deleteTargetGroup(arn);

    expect(await routing.findTargetGroup('acme')).toBeUndefined();
    expect(await routing.managedTargetGroups()).toEqual([]);
  });

  it('stops health-checking the targets of a deleted group', async () => {
    const { routing } = newRouting();
    const { ip, state } = await target();
    const arn = await routing.ensureTargetGroup('acme');
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'healthy');

    await routing.deleteTargetGroup(arn);
    const checks = state.checks;
    // Four intervals in which no check may come (one already under way may still land).
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(state.checks).toBeLessThanOrEqual(checks + 1);
  });
});

describe('GatewayRouting names and owners', () => {
  it('names groups as the AWS adapter does, with the installation id, and gives the two slugs that once collided a group each', async () => {
    const { routing } = newRouting({ installation: 'dev1' });

    const victim = await routing.ensureTargetGroup('acme-corporation-production-trial-env');
    const other = await routing.ensureTargetGroup('acme-corporation-productionzodudz6aaa');

    expect(victim).toBe(`local:targetgroup/${targetGroupName('dev1', 'acme-corporation-production-trial-env')}`);
    expect(other).not.toBe(victim);
    expect(await routing.managedTargetGroups()).toEqual([
      { arn: victim, tenantId: 'acme-corporation-production-trial-env' },
      { arn: other, tenantId: 'acme-corporation-productionzodudz6aaa' },
    ]);
  });

  it("refuses another tenant's group even if their names collide, and leaves it as it was", async () => {
    // Every tenant gets the same name: the tags alone keep them apart.
    const { routing } = newRouting({ targetGroupName: () => 'dm-local-same' });
    const { ip } = await target();
    const victim = await routing.ensureTargetGroup('victim');
    await routing.registerTarget(victim, ip);
    const rule = await routing.createRule('victim', 'victim.localhost', victim);

    await expect(routing.ensureTargetGroup('intruder')).rejects.toBeInstanceOf(ForeignResourceError);
    await expect(routing.findTargetGroup('intruder')).rejects.toThrow(/belongs to another tenant or installation/);
    await expect(routing.findRule('intruder', 'victim.localhost')).rejects.toBeInstanceOf(ForeignResourceError);

    expect(await routing.findTargetGroup('victim')).toBe(victim);
    expect(await routing.findRule('victim', 'victim.localhost')).toEqual(rule);
    expect((await routing.targets(victim)).map((t) => t.ip)).toEqual([ip]);
  });
});

describe('GatewayRouting host rules', () => {
  it('gives each rule a free priority, matches hosts whatever their case or port, and forgets deleted rules', async () => {
    const { routing } = newRouting();
    const acme = await routing.ensureTargetGroup('acme');
    const globex = await routing.ensureTargetGroup('globex');

    const first = await routing.createRule('acme', 'acme.localhost', acme);
    const second = await routing.createRule('globex', 'globex.localhost', globex);

    expect([first.priority, second.priority]).toEqual([1, 2]);
    expect(await routing.createRule('acme', 'acme.localhost', acme)).toEqual(first);
    expect(await routing.findRule('acme', 'ACME.localhost')).toEqual(first);
    expect(await routing.findRule('acme', 'acme.localhost:8080')).toEqual(first);
    expect(await routing.findRule('nobody', 'nobody.localhost')).toBeUndefined();
    expect(await routing.managedRules()).toEqual([
      { ...first, tenantId: 'acme' },
      { ...second, tenantId: 'globex' },
    ]);

    await routing.deleteRule(first.arn);
    await routing.deleteRule(first.arn);

    expect(await routing.findRule('acme', 'acme.localhost')).toBeUndefined();
    expect((await routing.createRule('initech', 'initech.localhost', acme)).priority).toBe(1);
  });

  it('routes each host by its own rule among a thousand, the lowest priority first, and forgets deleted rules', async () => {
    // Prepare: a thousand tenants' rules, and a host with two rules to two groups of its own.
    const { routing } = newRouting();
    const others = [];
    for (let i = 0; i < 1_000; i++) {
      others.push(await routing.createRule(`t${i}`, `t${i}.localhost`, await routing.ensureTargetGroup(`t${i}`)));
    }
    const [blue, green] = await Promise.all([target(), target()]);
    const blueArn = await routing.ensureTargetGroup('shop-blue');
    const greenArn = await routing.ensureTargetGroup('shop-green');
    await routing.registerTarget(blueArn, blue.ip);
    await routing.registerTarget(greenArn, green.ip);
    await until(routing, blueArn, blue.ip, 'healthy');
    await until(routing, greenArn, green.ip, 'healthy');
    const first = await routing.createRule('shop', 'shop.localhost', blueArn);
    await routing.createRule('shop', 'shop.localhost', greenArn);

    // Act
    const both = routing.route('SHOP.localhost:8080');
    await routing.deleteRule(first.arn);
    const greenOnly = routing.route('shop.localhost');
    for (const rule of others.slice(0, 500)) await routing.deleteRule(rule.arn);
    // The freed priority 1 goes to the new rule, created last but matched first.
    const again = await routing.createRule('shop', 'shop.localhost', blueArn);
    const blueAgain = routing.route('shop.localhost');

    // Assess
    expect(both).toEqual({ tenantId: 'shop', target: blue.ip });
    expect(greenOnly).toEqual({ tenantId: 'shop', target: green.ip });
    expect(again.priority).toBe(1);
    expect(blueAgain).toEqual({ tenantId: 'shop', target: blue.ip });
    expect(routing.route('shop.localhost', 1)).toBeUndefined();
    expect(await routing.findRule('t0', 't0.localhost')).toBeUndefined();
    expect(await routing.findRule('t499', 't499.localhost')).toBeUndefined();
    expect(await routing.findRule('t500', 'T500.localhost')).toEqual(others[500]);
    expect(await routing.findRule('t999', 't999.localhost')).toEqual(others[999]);
  });

  it('refuses a rule that forwards to a group that does not exist', async () => {
    const { routing } = newRouting();

    await expect(routing.createRule('acme', 'acme.localhost', 'local:targetgroup/dm-acme')).rejects.toMatchObject({
      name: 'TargetGroupNotFoundError',
    });
  });
});

describe('GatewayRouting health checks', () => {
  it('moves a new target from initial to healthy after one passed check of the default health check path, /', async () => {
    const { routing, changes } = newRouting();
    const { ip, state } = await target(200);
    const arn = await routing.ensureTargetGroup('acme');

    await routing.registerTarget(arn, ip);
    expect(await healthOf(routing, arn, ip)).toBe('initial');
    await until(routing, arn, ip, 'healthy');

    expect(state.paths[0]).toBe('/');
    expect(state.userAgents[0]).toMatch(/^ELB-HealthChecker/);
    expect(changes.map((change) => change.health)).toEqual(['initial', 'healthy']);
    expect(changes[1]).toEqual({ tenantId: 'acme', targetGroupArn: arn, ip, health: 'healthy' });
  });

  it('takes a target as healthy on a redirect, as the ALB matcher 200-399 does, on the configured path', async () => {
    const { routing } = newRouting({ healthCheckPath: '/ready' });
    const { ip, state } = await target(302);
    const arn = await routing.ensureTargetGroup('acme');

    await routing.registerTarget(arn, ip);

    await until(routing, arn, ip, 'healthy');
    expect(state.paths[0]).toBe('/ready');
  });

  it('marks a target unhealthy only after two failed checks in a row', async () => {
    const { routing, changes } = newRouting({ healthCheckIntervalMs: 600 });
    const { ip, state } = await target(500);
    const arn = await routing.ensureTargetGroup('acme');

    await routing.registerTarget(arn, ip);
    await waitFor('the first check', () => state.checks >= 1);
    // Nothing outside shows the failure being recorded; give it time, well before the next check.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await healthOf(routing, arn, ip)).toBe('initial');
    await until(routing, arn, ip, 'unhealthy');

    expect(state.checks).toBeGreaterThanOrEqual(2);
    expect(changes.map((change) => change.health)).toEqual(['initial', 'unhealthy']);
  });

  it('takes a target that stops answering out of service, and back once it answers again', async () => {
    const { routing, changes } = newRouting();
    const { ip, state } = await target(200);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.createRule('acme', 'acme.localhost', arn);
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'healthy');
    expect(routing.route('acme.localhost')).toEqual({ tenantId: 'acme', target: ip });

    state.status = 'hang';
    await until(routing, arn, ip, 'unhealthy');
    expect(routing.route('acme.localhost')).toBeUndefined();

    state.status = 200;
    await until(routing, arn, ip, 'healthy');
    expect(routing.route('acme.localhost')).toEqual({ tenantId: 'acme', target: ip });
    expect(changes.map((change) => change.health)).toEqual(['initial', 'healthy', 'unhealthy', 'healthy']);
  });

  it('says why a target is unhealthy with the reasons ELBv2 gives: a wrong status, a timeout, no connection', async () => {
    const { routing } = newRouting({ healthCheckPath: '/healthz' });
    const notFound = await target(404);
    const hanging = await target('hang');
    const nothing = `127.0.0.1:${await freePort()}`;
    const arn = await routing.ensureTargetGroup('acme');

    for (const ip of [notFound.ip, hanging.ip, nothing]) await routing.registerTarget(arn, ip);
    for (const ip of [notFound.ip, hanging.ip, nothing]) await until(routing, arn, ip, 'unhealthy');
    const targets = await routing.targets(arn);

    expect(targets).toEqual([
      {
        ip: notFound.ip,
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz with a 2xx or 3xx status (it answered 404). Make it answer there, or change the health check path.',
      },
      {
        ip: hanging.ip,
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz in time: the health check timed out. Check that it answers quickly on its port.',
      },
      {
        ip: nothing,
        health: 'unhealthy',
        reason:
          'The application does not answer GET /healthz: the health check could not connect or got no valid HTTP answer. Check that it listens on its port.',
      },
    ]);
  });

  it('forgets the reason once the target passes again', async () => {
    const { routing } = newRouting();
    const { ip, state } = await target(404);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'unhealthy');

    state.status = 200;
    await until(routing, arn, ip, 'healthy');

    expect(await routing.targets(arn)).toEqual([{ ip, health: 'healthy' }]);
  });

  it('marks a target with nothing listening unhealthy', async () => {
    const { routing } = newRouting();
    const ip = `127.0.0.1:${await freePort()}`;
    const arn = await routing.ensureTargetGroup('acme');

    await routing.registerTarget(arn, ip);

    await until(routing, arn, ip, 'unhealthy');
  });

  it('drains a deregistered target, then removes it; registering it while draining starts its checks over', async () => {
    const { routing } = newRouting({ deregistrationDelayMs: 300 });
    const { ip } = await target(200);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.createRule('acme', 'acme.localhost', arn);
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'healthy');

    await routing.deregisterTarget(arn, ip);
    expect(await healthOf(routing, arn, ip)).toBe('draining');
    expect(routing.route('acme.localhost')).toBeUndefined();
    await routing.registerTarget(arn, ip);
    expect(await healthOf(routing, arn, ip)).toBe('initial');
    await until(routing, arn, ip, 'healthy');
    // The earlier drain timer must not remove the re-registered target: wait past its 300 ms.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await healthOf(routing, arn, ip)).toBe('healthy');

    await routing.deregisterTarget(arn, ip);
    await until(routing, arn, ip, undefined);
    expect(await routing.targets(arn)).toEqual([]);
    await routing.deregisterTarget(arn, ip);
    await routing.deregisterTarget('local:targetgroup/dm-nobody', ip);
  });

  it('does not restart the checks of a target registered twice', async () => {
    const { routing, changes } = newRouting();
    const { ip } = await target(200);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'healthy');

    await routing.registerTarget(arn, ip);

    expect(await healthOf(routing, arn, ip)).toBe('healthy');
    expect(changes.map((change) => change.health)).toEqual(['initial', 'healthy']);
  });

  it('spreads requests over the healthy targets of a group', async () => {
    const { routing } = newRouting();
    const [one, two] = await Promise.all([target(200), target(200)]);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.createRule('acme', 'acme.localhost', arn);
    await routing.registerTarget(arn, one.ip);
    await routing.registerTarget(arn, two.ip);
    await until(routing, arn, one.ip, 'healthy');
    await until(routing, arn, two.ip, 'healthy');

    const picked = new Set(Array.from({ length: 4 }, () => routing.route('acme.localhost')?.target));

    expect(picked).toEqual(new Set([one.ip, two.ip]));
  });

  it('stops every health check on close', async () => {
    const { routing } = newRouting();
    const { ip, state } = await target(200);
    const arn = await routing.ensureTargetGroup('acme');
    await routing.registerTarget(arn, ip);
    await until(routing, arn, ip, 'healthy');

    routing.close();
    const checks = state.checks;
    // Four intervals in which no check may come (one already under way may still land).
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect(state.checks).toBeLessThanOrEqual(checks + 1);
  });
});
