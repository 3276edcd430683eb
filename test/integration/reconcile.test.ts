import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import { ForeignResourceError, VersionConflictError } from '../../shared/domain/errors.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import { DynamoDbWakeTimes } from '../../shared/adapters/aws/dynamodb-wake-times.js';
import { WakeEstimate } from '../../shared/app/wake-estimate.js';
import { createWorld } from '../support/reconciler-world.js';

describe('reconcile', () => {
  it('takes a new tenant to Running with exactly one Spot task, one target group and one rule', async () => {
    const world = await createWorld();
    await world.signUp('acme');

    await world.converge(['acme']);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Running', observedGeneration: 1, slot: true, attempts: 0 });
    expect(tenant.status.task).toMatchObject({ capacityProvider: 'FARGATE_SPOT', lastStatus: 'RUNNING' });
    expect(tenant.lease).toBeUndefined();
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
    expect([...world.cloud.rules.values()]).toEqual([expect.objectContaining({ host: 'acme.trials.example.com', tenantId: 'acme' })]);
    const [group] = [...world.cloud.targetGroups.values()];
    expect([...group!.targets.values()]).toEqual([expect.objectContaining({ ip: tenant.status.task!.ip, health: 'healthy' })]);
    expect(await world.store.countRoutingSlots()).toBe(1);
  });

  it('does nothing for a signup waiting for its email link: no task, no routing slot, no write', async () => {
    const world = await createWorld();
    const waiting = newTenant({
      slug: 'acme',
      email: 'ann@acme.test',
      plan: 'trial',
      tokenHash: 'hash',
      now: world.clock.now(),
      trialDays: 14,
      verificationCodeHash: 'code',
    });
    const stored = await world.store.create(waiting, { maxTenants: 10 });

    await world.reconcile('acme');

    expect(world.cloud.calls).toEqual([]);
    expect((await world.store.get('acme'))!.version).toBe(stored.version);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('creates the rule only once the target is healthy, so visitors never reach a task that is not ready', async () => {
    const world = await createWorld();
    await world.signUp('acme');

    await world.converge(['acme'], 40, () => {
      const rule = [...world.cloud.rules.values()][0];
      if (!rule) return;
      const targets = [...world.cloud.targetGroups.get(rule.targetGroupArn)!.targets.values()];
      expect(targets.some((target) => target.health === 'healthy')).toBe(true);
    });

    expect(world.cloud.rules.size).toBe(1);
  });

  it('is a no-op on a converged tenant: no writes and no AWS writes', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    const before = (await world.store.get('acme'))!;
    const calls = world.cloud.calls.length;

    await world.reconcile('acme');

    expect((await world.store.get('acme'))!.version).toBe(before.version);
    const writes = world.cloud.calls.slice(calls).filter((call) => !/^Describe/.test(call));
    expect(writes).toEqual([]);
  });

  it('passivates by removing the rule first, then stopping the task and freeing the slot', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    const mark = world.cloud.calls.length;

    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Passivated', observedGeneration: 2, slot: false });
    expect(tenant.status.task).toBeUndefined();
    const writes = world.cloud.calls.slice(mark).filter((call) => !/^Describe/.test(call));
    expect(writes).toEqual(['DeleteRule', 'StopTask', 'DeleteTargetGroup']);
    expect(world.cloud.rules.size).toBe(0);
    expect(world.cloud.targetGroups.size).toBe(0);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('wakes a passivated tenant through Waking back to Running on a new task', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    const firstTask = (await world.store.get('acme'))!.status.task!.arn;
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);

    await world.setDesired('acme', 'running');
    await world.reconcile('acme');
    expect((await world.store.get('acme'))!.status.phase).toBe('Waking');
    await world.converge(['acme']);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Running');
    expect(tenant.status.task!.arn).not.toBe(firstTask);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
  });

  it('records every wake it ends for the waking page’s estimate, though no request watched it end', async () => {
    // Arrange: a tenant asleep, woken by a request (as the wake function writes it); nobody holds a request.
    const world = await createWorld();
    const times = new DynamoDbWakeTimes({ tableName: world.tables.tenantTable, client: world.tables.documentClient });
    world.deps.wakeTimes = new WakeEstimate(times);
    await world.signUp('acme');
    await world.converge(['acme']);
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    const asleep = (await world.store.get('acme'))!;
    const wokenAt = world.clock.now().toISOString();
    await world.store.save({ ...withDesired(asleep, 'running'), wokenAt });

    // Act: the reconciler takes it back to Running, then looks at it again.
    await world.converge(['acme']);
    await world.reconcile('acme');

    // Assess: one wake, from the request to the record of it Running.
    const running = (await world.store.get('acme'))!;
    expect(running.status.phase).toBe('Running');
    const ms = Date.parse(running.status.transitionAt) - Date.parse(wokenAt);
    expect(ms).toBeGreaterThan(0);
    expect(await times.recent()).toEqual([{ wokenAt, ms }]);
  });

  it('still wakes the tenant when its wake cannot be recorded, and says so in the log', async () => {
    // Arrange: the recent wake times cannot be written.
    const world = await createWorld();
    const warnings: unknown[][] = [];
    world.deps.logger = { info: () => {}, error: () => {}, warn: (...args: unknown[]) => warnings.push(args) };
    world.deps.wakeTimes = new WakeEstimate({
      recent: async () => [],
      record: async () => {
        throw new Error('throttled');
      },
    });
    await world.signUp('acme');
    await world.converge(['acme']);
    await world.setDesired('acme', 'passivated');
    await world.converge(['acme']);
    const asleep = (await world.store.get('acme'))!;
    await world.store.save({ ...withDesired(asleep, 'running'), wokenAt: world.clock.now().toISOString() });

    // Act
    await world.converge(['acme']);

    // Assess
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
    expect(warnings).toContainEqual(['Could not record a wake time', { tenantId: 'acme', error: new Error('throttled') }]);
  });

  it('deletes everything the tenant had and leaves a tombstone that expires', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);

    await world.setDesired('acme', 'deleted');
    await world.converge(['acme']);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Deleted');
    expect(tenant.expiresAt).toBe(Math.floor(world.clock.now().getTime() / 1000) + world.settings.tombstoneSeconds);
    expect(world.cloud.rules.size + world.cloud.targetGroups.size + world.cloud.liveTasksOf('acme').length).toBe(0);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('deletes a tenant that never got further than its task starting', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.reconcile('acme');
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);

    await world.setDesired('acme', 'deleted');
    await world.converge(['acme']);

    expect((await world.store.get('acme'))!.status.phase).toBe('Deleted');
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
  });

  describe('when Fargate Spot has no capacity', () => {
    it('retries with backoff, then falls back to on-demand and records it', async () => {
      const world = await createWorld({ cloud: { spotCapacity: false } });
      await world.signUp('acme');

      await world.reconcile('acme');
      const waiting = (await world.store.get('acme'))!;
      expect(waiting.status.spotFailures).toBe(1);
      expect(waiting.status.lastError).toMatch(/no Fargate Spot capacity/);
      expect(Date.parse(waiting.status.retryAt!)).toBeGreaterThan(world.clock.now().getTime());

      await world.converge(['acme']);

      const tenant = (await world.store.get('acme'))!;
      expect(tenant.status.phase).toBe('Running');
      expect(tenant.status.task!.capacityProvider).toBe('FARGATE');
      expect(world.cloud.countCalls('RunTask')).toBe(world.settings.spotAttemptsBeforeFallback + 1);
    });

    it('keeps retrying Spot, never on-demand, when the fallback is off', async () => {
      const world = await createWorld({ cloud: { spotCapacity: false }, settings: { fallbackToOnDemand: false } });
      await world.signUp('acme');

      await world.rounds(['acme'], 30);

      const tenant = (await world.store.get('acme'))!;
      expect(tenant.status.phase).toBe('Provisioning');
      expect(tenant.status.lastError).toMatch(/no Fargate Spot capacity/);
      expect([...world.cloud.tasks.values()]).toEqual([]);
      world.cloud.spotCapacity = true;
      world.clock.advance(120_000);
      await world.converge(['acme']);
      expect((await world.store.get('acme'))!.status.task!.capacityProvider).toBe('FARGATE_SPOT');
    });
  });

  it('replaces a task that got a Spot termination notice before it stops, with no gap in service', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    const old = world.cloud.liveTasksOf('acme')[0]!;

    world.cloud.interrupt(old);
    // The host keeps a rule and a healthy target at every moment of the handover.
    await world.roundsWithoutGap('acme', 12);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Running');
    expect(tenant.status.task!.arn).not.toBe(old.arn);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(1);
    expect(world.cloud.tasks.get(old.arn)!.lastStatus).toBe('STOPPED');
    expect(tenant.status.attempts).toBe(0);
  });

  it('restarts a crashing task with backoff and marks the tenant Failed with a reason a person can act on', async () => {
    const world = await createWorld();
    world.cloud.crashLoop.set('acme', {
      containerReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): manifest unknown',
    });
    await world.signUp('acme');

    await world.converge(['acme'], 80);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status.phase).toBe('Failed');
    expect(tenant.status.lastError).toMatch(/image could not be pulled.*Gave up after 4 attempts/s);
    expect(world.cloud.countCalls('RunTask')).toBe(world.settings.maxRestarts + 1);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('says why a task does not pass its health check while it waits, then fails the tenant after the unhealthy timeout', async () => {
    const reason =
      'The application does not answer GET / with a 2xx or 3xx status (it answered 404). Make it answer there, or change the health check path.';
    const world = await createWorld({ settings: { unhealthyTimeoutMs: 5 * 60_000 } });
    world.cloud.failingHealthChecks.set('acme', reason);
    await world.signUp('acme');

    // Within a minute (rounds of 5 s): the task runs, its target fails, the record says why.
    const signedUpAt = world.clock.now().getTime();
    await world.rounds(['acme'], 12);
    const waiting = (await world.store.get('acme'))!;
    await world.converge(['acme'], 80);
    const failed = (await world.store.get('acme'))!;

    expect(waiting.status).toMatchObject({ phase: 'Provisioning', lastError: reason });
    expect(failed.status.phase).toBe('Failed');
    expect(failed.status.lastError).toBe(
      `${reason} Gave up after 5 minutes of failed health checks; fix the application, then wake the tenant to try again.`,
    );
    const failedAfter = Date.parse(failed.status.transitionAt!) - signedUpAt;
    expect(failedAfter).toBeGreaterThan(5 * 60_000);
    expect(failedAfter).toBeLessThan(6 * 60_000);
    // One task, never replaced; gone with its target group and slot once the tenant failed.
    expect(world.cloud.countCalls('RunTask')).toBe(1);
    expect(world.cloud.liveTasksOf('acme')).toHaveLength(0);
    expect(world.cloud.rules.size).toBe(0);
    expect(world.cloud.targetGroups.size).toBe(0);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('tries a failed tenant again when it is woken', async () => {
    const world = await createWorld();
    world.cloud.crashLoop.set('acme', { containerReason: 'exit', exitCode: 1 });
    await world.signUp('acme');
    await world.converge(['acme'], 80);
    expect((await world.store.get('acme'))!.status.phase).toBe('Failed');

    world.cloud.crashLoop.delete('acme');
    await world.setDesired('acme', 'running');
    await world.converge(['acme']);

    expect((await world.store.get('acme'))!.status).toMatchObject({ phase: 'Running', attempts: 0 });
  });

  it('backs off with jitter when AWS throttles, and converges once it stops', async () => {
    let throttled = 0;
    const world = await createWorld({
      cloud: { fault: (operation) => (operation === 'CreateRule' && throttled++ < 3 ? 'throttle' : undefined) },
    });
    await world.signUp('acme');

    await world.converge(['acme'], 60);

    const tenant = (await world.store.get('acme'))!;
    expect(throttled).toBeGreaterThan(3);
    expect(tenant.status).toMatchObject({ phase: 'Running' });
    expect(tenant.status.transientFailures).toBeUndefined();
    expect(world.cloud.rules.size).toBe(1);
  });

  it('gives up on a RunTask that AWS keeps denying, says what to fix, and frees the routing slot', async () => {
    const world = await createWorld({ cloud: { fault: (operation) => (operation === 'RunTask' ? 'deny' : undefined) } });
    await world.signUp('acme');

    await world.converge(['acme'], 80);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Failed', failedGeneration: 1, slot: false, lastErrorCategory: 'platform' });
    expect(tenant.status.lastError).toMatch(
      /not allowed to call RunTask \(RunTask was denied\); check the reconciler's IAM role.*Gave up after 4 attempts/s,
    );
    expect(world.cloud.countCalls('RunTask')).toBe(world.settings.maxRestarts + 1);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it("fails a tenant whose target group name is held by another tenant's or installation's group, never adopting it", async () => {
    const world = await createWorld();
    const ensure = world.cloud.ensureTargetGroup.bind(world.cloud);
    world.cloud.ensureTargetGroup = async (tenantId) => {
      if (tenantId === 'acme')
        throw new ForeignResourceError('target group', 'dm-local-acme', 'acme', { tenantId: 'globex', installation: 'local' });
      return ensure(tenantId);
    };
    await world.signUp('acme');

    await world.converge(['acme'], 80);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Failed', slot: false });
    expect(tenant.status.targetGroupArn).toBeUndefined();
    expect(tenant.status.lastError).toMatch(/The target group dm-local-acme belongs to another tenant or installation/);
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  it('gives up on a tenant whose tasks AWS refuses to describe, as on a refused step, instead of throwing the look away', async () => {
    const world = await createWorld({ cloud: { fault: (operation) => (operation === 'DescribeTasks' ? 'deny' : undefined) } });
    await world.signUp('acme');

    await world.converge(['acme'], 80);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Failed', failedGeneration: 1, lastErrorCategory: 'platform' });
    expect(tenant.status.attempts).toBe(world.settings.maxRestarts + 1);
    expect(tenant.status.lastError).toMatch(
      /not allowed to call DescribeTasks \(DescribeTasks was denied\); check the reconciler's IAM role/,
    );
    expect(world.cloud.countCalls('RunTask')).toBe(0);
  });

  it('backs off with the reason on the record when observing fails in a way nobody classified, instead of throwing', async () => {
    const world = await createWorld();
    world.cloud.tenantTasks = async () => {
      throw new Error('socket closed by peer');
    };
    await world.signUp('acme');

    const result = await world.reconcile('acme');

    const tenant = (await world.store.get('acme'))!;
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    expect(tenant.status).toMatchObject({ phase: 'Pending', transientFailures: 1, lastErrorCategory: 'platform' });
    expect(tenant.status.lastError).toBe('AWS refused a step: Error: socket closed by peer. Dormouse keeps retrying.');
    expect(Date.parse(tenant.status.retryAt!)).toBe(world.clock.now().getTime() + result.requeueAfterMs!);
    expect(tenant.lease).toBeUndefined();
  });

  it('keeps retrying a RunTask that AWS throttles, holding the slot and never failing the tenant', async () => {
    const world = await createWorld({ cloud: { fault: (operation) => (operation === 'RunTask' ? 'throttle' : undefined) } });
    await world.signUp('acme');

    await world.rounds(['acme'], 80);

    const tenant = (await world.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Provisioning', slot: true, attempts: 0 });
    expect(tenant.status.failedGeneration).toBeUndefined();
    expect(tenant.status.lastError).toBeUndefined();
    expect(world.cloud.countCalls('RunTask')).toBeGreaterThan(world.settings.maxRestarts + 1);
    expect(await world.store.countRoutingSlots()).toBe(1);
  });

  it('lets only one of two concurrent reconciles act on a tenant', async () => {
    const world = await createWorld();
    await world.signUp('acme');

    const results = await Promise.all([world.reconcile('acme'), world.reconcile('acme'), world.reconcile('acme')]);

    expect(world.cloud.countCalls('RunTask')).toBe(1);
    expect(results.filter((result) => result.requeueAfterMs !== undefined).length).toBeGreaterThan(0);
  });

  it('adopts the task after a failure between RunTask and writing it down, instead of starting another', async () => {
    let crashed = false;
    const world = await createWorld({
      cloud: { fault: (operation) => (operation === 'RunTask' && !crashed ? ((crashed = true), 'crash') : undefined) },
    });
    await world.signUp('acme');

    await world.reconcile('acme');
    const afterFailure = (await world.store.get('acme'))!;
    expect(afterFailure.status.lastError).toMatch(/AWS refused a step: CrashError/);
    expect(afterFailure.status.launch).toBeDefined();
    expect(afterFailure.lease).toBeUndefined();
    await world.converge(['acme']);

    const status = (await world.store.get('acme'))!.status;
    expect(status.phase, JSON.stringify(status)).toBe('Running');
    expect(status.lastError, JSON.stringify(status)).toBeUndefined();
    expect(world.cloud.tasks.size).toBe(1);
  });

  it('picks up a command that lands while it holds the lease, without waiting for the lease to run out', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    const original = world.deps.compute.runTask.bind(world.cloud);
    world.deps.compute = Object.assign(Object.create(world.cloud), {
      runTask: async (request: Parameters<typeof original>[0]) => {
        await world.setDesired('acme', 'passivated'); // the API writes mid-reconcile
        return original(request);
      },
    });

    const result = await world.reconcile('acme');

    expect(result.requeueAfterMs).toBe(0);
    const tenant = (await world.store.get('acme'))!;
    expect(tenant.lease).toBeUndefined();
    expect(tenant.spec.desired).toBe('passivated');
    // This caller does not watch: the retry is due now, for the sweep to take up at its next run.
    expect(tenant.status.retryAt).toBe(world.clock.now().toISOString());
  });

  it("leaves the load balancer alone while a new tenant's task starts, and asks it once the task runs", async () => {
    const world = await createWorld();
    await world.signUp('acme');
    const routingCalls = () => world.cloud.calls.filter((call) => /^Describe(Rules|TargetGroups|TargetHealth)$/.test(call));

    await world.reconcile('acme');
    while (world.cloud.liveTasksOf('acme')[0]?.lastStatus !== 'RUNNING') {
      expect(routingCalls()).toEqual([]);
      world.cloud.tick();
      await world.reconcile('acme');
    }
    await world.converge(['acme']);

    // Once it runs, only its target's health is read: what it lacks is made, not searched for.
    expect(new Set(routingCalls())).toEqual(new Set(['DescribeTargetHealth']));
    expect((await world.store.get('acme'))!.status.phase).toBe('Running');
  });

  it('adopts on the way up a rule and target group made just before crashes, without searching the load balancer', async () => {
    const crashed = new Set<string>();
    const world = await createWorld({
      cloud: {
        fault: (operation) =>
          ['CreateTargetGroup', 'CreateRule'].includes(operation) && !crashed.has(operation)
            ? (crashed.add(operation), 'crash')
            : undefined,
      },
    });
    await world.signUp('acme');

    await world.converge(['acme']);

    expect([...crashed].sort()).toEqual(['CreateRule', 'CreateTargetGroup']);
    const status = (await world.store.get('acme'))!.status;
    expect(status.phase, JSON.stringify(status)).toBe('Running');
    expect([...world.cloud.rules.values()].map((rule) => rule.arn)).toEqual([status.ruleArn]);
    expect([...world.cloud.targetGroups.keys()]).toEqual([status.targetGroupArn]);
    expect(world.cloud.calls.filter((call) => call === 'DescribeRules' || call === 'DescribeTargetGroups')).toEqual([]);
  });

  it('keeps the routing counter true when a slot write lands but is reported as failed', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    await world.setDesired('acme', 'passivated');
    const store = world.deps.store;
    let lost = 0;
    world.deps.store = Object.assign(Object.create(store) as typeof store, {
      save: async (...args: Parameters<typeof store.save>) => {
        const saved = await store.save(...args);
        // The slot's release commits, and the answer never arrives (a timeout, a dropped connection).
        if (args[1]?.routingSlot?.claim === false && lost++ === 0)
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return saved;
      },
    });

    await world.converge(['acme']);

    expect(lost).toBe(1);
    expect((await world.store.get('acme'))!.status).toMatchObject({ phase: 'Passivated', slot: false });
    expect(await world.store.countRoutingSlots()).toBe(0);
  });

  describe('watching a tenant through short waits', () => {
    const watch = (owner: string, maxWaitMs = 20_000) => ({ owner, maxWaitMs });

    it('keeps the lease while it waits, and other reconciles leave the tenant to it without asking AWS', async () => {
      const world = await createWorld();
      await world.signUp('acme');

      const first = await reconcile(world.deps, 'acme', watch('invocation-1'));
      const callsBefore = world.cloud.calls.length;
      const other = await world.reconcile('acme');

      expect(first).toEqual({ phase: 'Provisioning', requeueAfterMs: world.settings.pollMs, watching: true });
      expect((await world.store.get('acme'))!.lease?.owner).toBe('invocation-1');
      expect(other).toEqual({});
      expect(world.cloud.calls.length).toBe(callsBefore);
    });

    it('sees it through to Running, writing nothing on a look that sees nothing new, and lets go once done', async () => {
      const world = await createWorld();
      await world.signUp('acme');

      let result = await reconcile(world.deps, 'acme', watch('invocation-1'));
      const version = (await world.store.get('acme'))!.version;
      const idleLook = await reconcile(world.deps, 'acme', watch('invocation-1'));
      expect(idleLook).toEqual(result);
      expect((await world.store.get('acme'))!.version).toBe(version);
      while (result.watching) {
        world.cloud.tick();
        world.clock.advance(result.requeueAfterMs!);
        result = await reconcile(world.deps, 'acme', watch('invocation-1'));
      }

      const tenant = (await world.store.get('acme'))!;
      expect(result).toEqual({ phase: 'Running' });
      expect(tenant.status.phase).toBe('Running');
      expect(tenant.lease).toBeUndefined();
      expect(world.cloud.countCalls('RunTask')).toBe(1);
    });

    it('lets go of the lease when the next wait does not fit in the time left', async () => {
      const world = await createWorld();
      await world.signUp('acme');
      await reconcile(world.deps, 'acme', watch('invocation-1'));

      world.cloud.tick();
      const result = await reconcile(world.deps, 'acme', watch('invocation-1', 1_000));

      expect(result.watching).toBeUndefined();
      expect(result.requeueAfterMs).toBe(world.settings.pollMs);
      expect((await world.store.get('acme'))!.lease).toBeUndefined();
    });

    it('acts on a command that landed while it waited, at its next look', async () => {
      const world = await createWorld();
      await world.signUp('acme');
      await world.converge(['acme']);
      await world.setDesired('acme', 'passivated');
      const first = await reconcile(world.deps, 'acme', watch('invocation-1'));
      expect(first.watching).toBe(true);

      await world.setDesired('acme', 'running');
      world.cloud.tick();
      world.clock.advance(first.requeueAfterMs!);
      const next = await reconcile(world.deps, 'acme', watch('invocation-1'));

      expect(next.phase).toBe('Waking');
      expect((await world.store.get('acme'))!.lease?.owner).toBe('invocation-1');
    });

    it('goes on watching after losing every write race of a look, instead of leaving its lease to run out', async () => {
      const world = await createWorld();
      await world.signUp('acme');
      await reconcile(world.deps, 'acme', watch('invocation-1'));
      const store = world.deps.store;
      const losing = Object.assign(Object.create(store) as typeof store, {
        save: async (tenant: Tenant) => {
          throw new VersionConflictError(tenant.id, tenant.version);
        },
      });

      world.cloud.tick();
      world.clock.advance(world.settings.pollMs);
      const lost = await reconcile({ ...world.deps, store: losing }, 'acme', watch('invocation-1'));
      expect(lost).toEqual({ requeueAfterMs: world.settings.pollMs, watching: true });
      let result = lost;
      while (result.watching) {
        world.cloud.tick();
        world.clock.advance(result.requeueAfterMs!);
        result = await reconcile(world.deps, 'acme', watch('invocation-1'));
      }

      expect(result).toEqual({ phase: 'Running' });
      expect((await world.store.get('acme'))!.lease).toBeUndefined();
    });

    it('is taken over by another reconcile once the lease of a watcher that died runs out', async () => {
      const world = await createWorld();
      await world.signUp('acme');
      await reconcile(world.deps, 'acme', watch('invocation-that-dies'));

      world.cloud.tick();
      world.clock.advance(world.settings.leaseMs + 1);
      const result = await world.reconcile('acme');

      expect(result.phase).toBe('Provisioning');
      expect((await world.store.get('acme'))!.lease).toBeUndefined();
    });
  });

  it('queues a tenant when every routing slot is taken and admits it when one frees', async () => {
    const world = await createWorld({ settings: { maxActiveTenants: 1 } });
    await world.signUp('first');
    await world.signUp('second');
    await world.converge(['first']);

    await world.reconcile('second');
    const queued = (await world.store.get('second'))!;
    expect(queued.status).toMatchObject({ phase: 'Queued', lastError: expect.stringMatching(/All 1 routing slots are in use/) });
    expect(world.cloud.liveTasksOf('second')).toHaveLength(0);

    await world.setDesired('first', 'passivated');
    await world.converge(['first']);
    world.clock.advance(world.settings.queueRetryMs);
    await world.converge(['second']);

    expect((await world.store.get('second'))!.status.phase).toBe('Running');
    expect(await world.store.countRoutingSlots()).toBe(1);
  });

  it('dates the start from when the slot was claimed, so a long wait in the queue does not look like a stuck start', async () => {
    const world = await createWorld({ settings: { maxActiveTenants: 1 } });
    await world.signUp('first');
    await world.signUp('second');
    await world.converge(['first']);
    await world.reconcile('second');
    await world.setDesired('first', 'passivated');
    await world.converge(['first']);

    world.clock.advance(30 * 60_000);
    await world.reconcile('second');

    const { status } = (await world.store.get('second'))!;
    expect(status.phase).toBe('Provisioning');
    expect(status.transitionAt).toBe(world.clock.now().toISOString());
  });

  it('recreates a target group that vanished behind its back instead of failing on it', async () => {
    const world = await createWorld();
    await world.signUp('acme');
    await world.converge(['acme']);
    const rule = [...world.cloud.rules.values()][0]!;
    world.cloud.rules.delete(rule.arn);
    world.cloud.targetGroups.clear();

    await world.converge(['acme']);

    const { status } = (await world.store.get('acme'))!;
    expect(status.phase, JSON.stringify(status)).toBe('Running');
    expect(status.lastError, JSON.stringify(status)).toBeUndefined();
    expect(world.cloud.targetGroups.size).toBe(1);
    expect(world.cloud.rules.size).toBe(1);
  });
});
