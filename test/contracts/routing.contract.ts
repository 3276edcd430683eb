import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForeignResourceError, TargetGroupInUseError, TargetGroupNotFoundError } from '../../shared/domain/errors.js';
import type { RoutingInventory } from '../../shared/ports/inventory.js';
import type { Routing } from '../../shared/ports/routing.js';

/** One implementation of the Routing port (and its inventory). */
export interface RoutingSubject {
  /** Routes over three shards (load balancers), 0 to 2. */
  routing: Routing & RoutingInventory;
  /** An address a target can be registered at (nothing need answer there). */
  targetIp: string;
  /**
   * Puts a target group where `tenantId`'s would be, tagged as someone else's, where the
   * implementation can tell owners apart by tags.
   */
  plantForeignTargetGroup?: (tenantId: string) => Promise<void>;
  /** The same load balancer seen by another installation, where the implementation has that notion. */
  otherInstallation?: Routing;
  close(): Promise<void>;
}

/** A missing target group is the domain's TargetGroupNotFoundError, whoever reports it. */
function expectTargetGroupNotFound(error: unknown): void {
  expect(error).toBeInstanceOf(TargetGroupNotFoundError);
}

/** A group a rule still forwards to cannot be deleted: the domain's TargetGroupInUseError. */
function expectInUse(error: unknown): void {
  expect(error).toBeInstanceOf(TargetGroupInUseError);
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/**
 * What the reconciler and drift repair rely on from Routing, written once and run against every
 * implementation: the ELBv2 adapter over the AWS model, the local gateway, and the test fake.
 */
/**
 * What only some implementations can show (a second installation on the same cloud, a resource
 * made by hand): the cases that need it are registered only for those that have it.
 */
export type ContractFeature = 'otherInstallation' | 'resourcesByHand';

export function describeRoutingContract(
  name: string,
  makeSubject: () => Promise<RoutingSubject>,
  features: readonly ContractFeature[] = [],
): void {
  const itWith = (feature: ContractFeature) => (features.includes(feature) ? it : (_name: string, _case: () => Promise<void>) => undefined);
  describe(`Routing contract: ${name}`, () => {
    let subject: RoutingSubject;
    let routing: Routing & RoutingInventory;
    const host = 'acme.trials.example.com';

    beforeEach(async () => {
      subject = await makeSubject();
      routing = subject.routing;
    });
    afterEach(async () => {
      await subject.close();
    });

    it('ensures one target group per tenant, however often it is asked, and finds it by tenant', async () => {
      expect(await routing.findTargetGroup('acme')).toBeUndefined();
      const first = await routing.ensureTargetGroup('acme');
      const second = await routing.ensureTargetGroup('acme');
      expect(second).toBe(first);
      expect(await routing.findTargetGroup('acme')).toBe(first);
      expect(await routing.findTargetGroup('globex')).toBeUndefined();
      expect((await routing.managedTargetGroups()).filter((group) => group.tenantId === 'acme')).toEqual([
        { arn: first, tenantId: 'acme' },
      ]);
    });

    itWith('resourcesByHand')("refuses a target group in the tenant's place that is tagged as someone else's", async () => {
      await subject.plantForeignTargetGroup!('acme');
      expect(await failure(routing.ensureTargetGroup('acme'))).toBeInstanceOf(ForeignResourceError);
      expect(await failure(routing.findTargetGroup('acme'))).toBeInstanceOf(ForeignResourceError);
    });

    it('registers and deregisters targets; a deregistered target never counts as serving', async () => {
      const group = await routing.ensureTargetGroup('acme');
      expect(await routing.targets(group)).toEqual([]);
      await routing.registerTarget(group, subject.targetIp);
      await routing.registerTarget(group, subject.targetIp);
      const registered = await routing.targets(group);
      expect(registered.map((target) => target.ip)).toEqual([subject.targetIp]);
      expect(['initial', 'unhealthy']).toContain(registered[0]?.health);

      await routing.deregisterTarget(group, subject.targetIp);
      await routing.deregisterTarget(group, subject.targetIp);
      for (const target of await routing.targets(group)) expect(target.health).toBe('draining');
    });

    it('reports a missing target group as not found to targets() and registerTarget(), and as done to the removals', async () => {
      const group = await routing.ensureTargetGroup('acme');
      await routing.deleteTargetGroup(group);
      await routing.deleteTargetGroup(group);
      await routing.deregisterTarget(group, subject.targetIp);
      expectTargetGroupNotFound(await failure(routing.targets(group)));
      expectTargetGroupNotFound(await failure(routing.registerTarget(group, subject.targetIp)));
      expect(await routing.findTargetGroup('acme')).toBeUndefined();
    });

    it('creates, finds and deletes the host rule; the group it forwards to cannot be deleted meanwhile', async () => {
      const group = await routing.ensureTargetGroup('acme');
      expect(await routing.findRule('acme', host)).toBeUndefined();
      const rule = await routing.createRule('acme', host, group);
      expect(rule.targetGroupArn).toBe(group);
      expect(rule.priority).toBeGreaterThanOrEqual(1);
      expect(rule.priority).toBeLessThan(50_000);

      expect(await routing.findRule('acme', host)).toEqual(rule);
      expect(await routing.findRule('acme', host, rule.arn)).toEqual(rule);
      expect(await routing.findRule('acme', host.toUpperCase())).toEqual(rule);
      expect((await routing.managedRules()).filter((found) => found.tenantId === 'acme')).toEqual([{ ...rule, tenantId: 'acme' }]);

      expectInUse(await failure(routing.deleteTargetGroup(group)));
      await routing.deleteRule(rule.arn);
      await routing.deleteRule(rule.arn);
      expect(await routing.findRule('acme', host)).toBeUndefined();
      expect(await routing.findRule('acme', host, rule.arn)).toBeUndefined();
      await routing.deleteTargetGroup(group);
      expect(await routing.managedTargetGroups()).toEqual([]);
      expect(await routing.managedRules()).toEqual([]);
    });

    it("gives each tenant's rule its own priority", async () => {
      const acme = await routing.createRule('acme', host, await routing.ensureTargetGroup('acme'));
      const globex = await routing.createRule('globex', 'globex.trials.example.com', await routing.ensureTargetGroup('globex'));
      expect(globex.priority).not.toBe(acme.priority);
      expect(await routing.findRule('globex', 'globex.trials.example.com')).toEqual(globex);
    });

    it("refuses a rule for the tenant's host that belongs to another tenant", async () => {
      const theirs = await routing.ensureTargetGroup('squatter');
      await routing.createRule('squatter', host, theirs);
      expect(await failure(routing.findRule('acme', host))).toBeInstanceOf(ForeignResourceError);
    });

    it("keeps a shard's rules on its own listener: found there only, and listed with every shard's for drift repair", async () => {
      const acme = await routing.ensureTargetGroup('acme');
      const globex = await routing.ensureTargetGroup('globex');
      const onOne = await routing.createRule('acme', host, acme, 1);
      const onTwo = await routing.createRule('globex', 'globex.trials.example.com', globex, 2);

      expect(await routing.findRule('acme', host)).toBeUndefined();
      expect(await routing.findRule('acme', host, undefined, 2)).toBeUndefined();
      expect(await routing.findRule('acme', host, undefined, 1)).toEqual(onOne);
      expect(await routing.findRule('acme', host, onOne.arn, 1)).toEqual(onOne);
      expect(await routing.findRule('globex', 'globex.trials.example.com', undefined, 2)).toEqual(onTwo);
      expect(onOne.arn).not.toBe(onTwo.arn);
      const managed = await routing.managedRules();
      expect(managed.sort((a, b) => a.tenantId.localeCompare(b.tenantId))).toEqual([
        { ...onOne, tenantId: 'acme' },
        { ...onTwo, tenantId: 'globex' },
      ]);

      await routing.deleteRule(onOne.arn);
      expect(await routing.findRule('acme', host, onOne.arn, 1)).toBeUndefined();
      expect(await routing.managedRules()).toEqual([{ ...onTwo, tenantId: 'globex' }]);
    });

    itWith('otherInstallation')("lists only this installation's target groups and rules for drift repair", async () => {
      const other = subject.otherInstallation!;
      const theirs = await other.ensureTargetGroup('acme');
      await other.createRule('acme', 'acme.elsewhere.example.com', theirs);
      expect(await routing.managedTargetGroups()).toEqual([]);
      expect(await routing.managedRules()).toEqual([]);
      expect(await routing.findTargetGroup('acme')).toBeUndefined();
    });
  });
}
