import { describe, expect, it } from 'vitest';
import { testSettings } from '../support/reconciler-world.js';
import fc from 'fast-check';
import {
  backoffMs,
  isDoomed,
  isOutdated,
  isStopped,
  liveTasks,
  plan,
  type Observation,
  type PlanSettings,
  type Step,
} from '../../shared/domain/plan.js';
import { builtInPlans, environmentDigest, planRevision } from '../../shared/domain/plans.js';
import { explainStop } from '../../shared/domain/stop-reasons.js';
import { newTenant, type Desired, type Phase, type Tenant, type TenantSpec, type TenantStatus } from '../../shared/domain/tenant.js';
import type { ObservedTask } from '../../shared/ports/compute.js';
import type { HostRule, Target, TargetHealth } from '../../shared/ports/routing.js';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const RECORDED = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/5f0c1d2e3b4a';
const OTHER = 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/9a8b7c6d5e4f';
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dm-acme/6d0ecf831eec9f09';
const OTHER_TG = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dm-acme-old/0ff1ce';
const RULE =
  'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee';
const IP = '10.0.1.5';
/** What tasks were started as: the trial plan, and the pro plan, both with the tenant's environment unset. */
const TRIAL = { plan: 'trial', revision: 'aaaaaaaaaaaa', environment: environmentDigest(undefined) };
const PRO = { plan: 'pro', revision: 'bbbbbbbbbbbb', environment: environmentDigest(undefined) };
const OLD_IP = '10.0.2.9';

/** The reconciler tests' settings: the rows below are written against these values. */
const settings: PlanSettings = testSettings;

function tenant(status: Partial<TenantStatus> = {}, spec: Partial<TenantSpec> = {}): Tenant {
  const base = newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: NOW, trialDays: 14 });
  return { ...base, spec: { ...base.spec, ...spec }, status: { ...base.status, ...status } };
}

/** A tenant holding a slot whose record expects the task RECORDED. */
function provisioning(status: Partial<TenantStatus> = {}, spec: Partial<TenantSpec> = {}): Tenant {
  return tenant({ phase: 'Provisioning', slot: true, task: { arn: RECORDED, capacityProvider: 'FARGATE_SPOT' }, ...status }, spec);
}

function task(overrides: Partial<ObservedTask> = {}): ObservedTask {
  return {
    arn: RECORDED,
    tenantId: 'acme',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    capacityProvider: 'FARGATE_SPOT',
    ip: IP,
    ...overrides,
  };
}

function target(ip: string, health: TargetHealth): Target {
  return { ip, health };
}

function rule(targetGroupArn = TG, arn = RULE): HostRule {
  return { arn, priority: 7, targetGroupArn };
}

function observed(overrides: Partial<Observation> = {}): Observation {
  return { tasks: [], targets: [], ...overrides };
}

/** Everything a running tenant needs: its task, a healthy target, a rule to its target group. */
function serving(overrides: Partial<Observation> = {}): Observation {
  return observed({ tasks: [task()], targetGroupArn: TG, targets: [target(IP, 'healthy')], rule: rule(), ...overrides });
}

const inSeconds = (seconds: number) => new Date(NOW.getTime() + seconds * 1_000).toISOString();

/** Table rows titled by their `name` in full (`$name` would quote and truncate it). */
const named = <T extends { name: string }>(rows: T[]): [string, T][] => rows.map((row) => [row.name, row]);

interface Row {
  name: string;
  tenant: Tenant;
  observed: Observation;
  settings?: Partial<PlanSettings>;
  step: Step | Record<string, unknown>;
  phase: Phase;
}

describe('plan', () => {
  describe('when the tenant should run', () => {
    const interruptedOld = task({ arn: OTHER, ip: OLD_IP, desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' });

    it.each(
      named<Row>([
        {
          name: 'claims a routing slot first when it holds none',
          tenant: tenant(),
          observed: observed(),
          step: { kind: 'claimSlot' },
          phase: 'Provisioning',
        },
        {
          name: 'waits in the queue until its retry time when queued',
          tenant: tenant({ phase: 'Queued', retryAt: inSeconds(30), queuedAt: inSeconds(-60) }),
          observed: observed(),
          step: { kind: 'wait', afterMs: 30_000 },
          phase: 'Queued',
        },
        {
          name: 'tries for a slot again once the queue retry time has passed',
          tenant: tenant({ phase: 'Queued', retryAt: inSeconds(-1), queuedAt: inSeconds(-60) }),
          observed: observed(),
          step: { kind: 'claimSlot' },
          phase: 'Provisioning',
        },
        {
          name: 'runs a Fargate Spot task once it holds a slot and has none',
          tenant: tenant({ phase: 'Provisioning', slot: true }),
          observed: observed(),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Provisioning',
        },
        {
          name: 'stays on Spot while Spot refusals are below the threshold',
          tenant: tenant({ phase: 'Provisioning', slot: true, spotFailures: 1 }),
          observed: observed(),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Provisioning',
        },
        {
          name: 'falls back to on-demand Fargate after repeated Spot refusals when allowed',
          tenant: tenant({ phase: 'Provisioning', slot: true, spotFailures: 2 }),
          observed: observed(),
          step: { kind: 'runTask', capacityProvider: 'FARGATE' },
          phase: 'Provisioning',
        },
        {
          name: 'keeps asking for Spot after repeated refusals when the fallback is off',
          tenant: tenant({ phase: 'Provisioning', slot: true, spotFailures: 5 }),
          observed: observed(),
          settings: { fallbackToOnDemand: false },
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Provisioning',
        },
        {
          name: 'waits out a backoff before starting another task',
          tenant: tenant({ phase: 'Provisioning', slot: true, attempts: 1, retryAt: inSeconds(4) }),
          observed: observed(),
          step: { kind: 'wait', afterMs: 4_000 },
          phase: 'Provisioning',
        },
        {
          name: 'records a stop when the recorded task exited by itself',
          tenant: provisioning(),
          observed: observed({
            tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'EssentialContainerExited', exitCode: 1 })],
          }),
          step: { kind: 'recordStop', task: expect.objectContaining({ arn: RECORDED, exitCode: 1 }) },
          phase: 'Provisioning',
        },
        {
          name: 'records a stop even while a backoff is pending, so the stop is counted',
          tenant: provisioning({ retryAt: inSeconds(10) }),
          observed: observed({ tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'EssentialContainerExited' })] }),
          step: { kind: 'recordStop', task: expect.objectContaining({ arn: RECORDED }) },
          phase: 'Provisioning',
        },
        {
          name: 'replaces a task that stopped after a Spot termination notice without counting it as a failure',
          tenant: provisioning({ phase: 'Running' }),
          observed: observed({ tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' })] }),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Provisioning',
        },
        {
          name: 'replaces a task stopped by a Spot interruption without counting it as a failure',
          tenant: provisioning({ phase: 'Running' }),
          observed: observed({ tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'SpotInterruption' })] }),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Provisioning',
        },
        {
          name: 'starts the replacement while an interrupted task is still running out its notice',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({ tasks: [task({ desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' })] }),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Running',
        },
        {
          name: 'stops the task the record does not know when two are live',
          tenant: provisioning(),
          observed: observed({ tasks: [task({ arn: OTHER, ip: OLD_IP }), task()] }),
          step: { kind: 'stopTask', task: expect.objectContaining({ arn: OTHER }), reason: expect.stringMatching(/duplicate/) },
          phase: 'Provisioning',
        },
        {
          name: 'waits for a pending task to start',
          tenant: provisioning(),
          observed: observed({ tasks: [task({ lastStatus: 'PENDING', ip: undefined })] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/start/), until: 'task-change' },
          phase: 'Provisioning',
        },
        {
          name: 'waits for a running task that has no IP yet',
          tenant: provisioning(),
          observed: observed({ tasks: [task({ ip: undefined })] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.any(String), until: 'task-change' },
          phase: 'Provisioning',
        },
        {
          name: 'shows Waking, not Provisioning, for a tenant woken from Passivated',
          tenant: tenant({ phase: 'Passivated', slot: true }, { generation: 3 }),
          observed: observed(),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Waking',
        },
        {
          name: 'shows Waking while a woken tenant claims its slot',
          tenant: tenant({ phase: 'Passivated' }, { generation: 3 }),
          observed: observed(),
          step: { kind: 'claimSlot' },
          phase: 'Waking',
        },
        {
          name: 'ensures the target group once the task runs',
          tenant: provisioning(),
          observed: observed({ tasks: [task()] }),
          step: { kind: 'ensureTargetGroup' },
          phase: 'Provisioning',
        },
        {
          name: 'registers the task when it is not a target yet',
          tenant: provisioning(),
          observed: observed({ tasks: [task()], targetGroupArn: TG }),
          step: { kind: 'registerTarget', targetGroupArn: TG, ip: IP },
          phase: 'Provisioning',
        },
        {
          name: 'registers the task again when its target is draining',
          tenant: provisioning(),
          observed: observed({ tasks: [task()], targetGroupArn: TG, targets: [target(IP, 'draining')] }),
          step: { kind: 'registerTarget', targetGroupArn: TG, ip: IP },
          phase: 'Provisioning',
        },
        {
          name: 'waits for a new target to pass its health checks',
          tenant: provisioning(),
          observed: observed({ tasks: [task()], targetGroupArn: TG, targets: [target(IP, 'initial')] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/health check/) },
          phase: 'Provisioning',
        },
        {
          name: 'waits on an unhealthy target rather than creating a rule to it',
          tenant: provisioning(),
          observed: observed({
            tasks: [task({ startedAt: new Date(NOW.getTime() - 60_000).toISOString() })],
            targetGroupArn: TG,
            targets: [target(IP, 'unhealthy')],
          }),
          step: {
            kind: 'wait',
            afterMs: settings.pollMs,
            reason: expect.any(String),
            problem: 'The application does not pass its load balancer health check.',
          },
          phase: 'Provisioning',
        },
        {
          name: 'says why the target is unhealthy, as the load balancer reports it, while it waits',
          tenant: provisioning(),
          observed: observed({
            tasks: [task({ startedAt: new Date(NOW.getTime() - 60_000).toISOString() })],
            targetGroupArn: TG,
            targets: [
              { ip: IP, health: 'unhealthy', reason: 'The application does not answer GET / with a 2xx or 3xx status (it answered 404).' },
            ],
          }),
          step: {
            kind: 'wait',
            afterMs: settings.pollMs,
            reason: expect.any(String),
            problem: 'The application does not answer GET / with a 2xx or 3xx status (it answered 404).',
          },
          phase: 'Provisioning',
        },
        {
          name: 'fails a tenant whose task never passed its health check within the timeout',
          tenant: provisioning(),
          observed: observed({
            tasks: [task({ startedAt: new Date(NOW.getTime() - 121_000).toISOString() })],
            targetGroupArn: TG,
            targets: [{ ip: IP, health: 'unhealthy', reason: 'The application does not answer GET / in time.' }],
          }),
          step: { kind: 'fail', reason: 'The application does not answer GET / in time.' },
          phase: 'Failed',
        },
        {
          name: 'replaces a task that served before and stays unhealthy past the timeout',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({
            tasks: [task({ startedAt: new Date(NOW.getTime() - 121_000).toISOString() })],
            targets: [target(IP, 'unhealthy')],
          }),
          step: { kind: 'stopTask', task: expect.objectContaining({ arn: RECORDED }), reason: expect.stringMatching(/health check/) },
          phase: 'Provisioning',
        },
        {
          name: 'deregisters the interrupted task once its replacement is healthy (Spot handover)',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({ tasks: [interruptedOld, task()], targets: [target(OLD_IP, 'healthy'), target(IP, 'healthy')] }),
          step: { kind: 'deregisterTarget', targetGroupArn: TG, ip: OLD_IP },
          phase: 'Running',
        },
        {
          name: 'keeps the interrupted task registered while its replacement is not healthy yet',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({ tasks: [interruptedOld, task()], targets: [target(OLD_IP, 'healthy'), target(IP, 'initial')] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.any(String) },
          phase: 'Running',
        },
        {
          name: 'stops an interrupted task still meant to run once its replacement serves',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({
            tasks: [task({ arn: OTHER, ip: OLD_IP, stopCode: 'TerminationNotice' }), task()],
            targets: [target(OLD_IP, 'draining'), target(IP, 'healthy')],
          }),
          step: { kind: 'stopTask', task: expect.objectContaining({ arn: OTHER }), reason: expect.stringMatching(/Spot interruption/) },
          phase: 'Running',
        },
        {
          name: 'creates the host rule only once the target is healthy',
          tenant: provisioning(),
          observed: serving({ rule: undefined }),
          step: { kind: 'createRule', targetGroupArn: TG },
          phase: 'Provisioning',
        },
        {
          name: 'deletes a host rule that points at another target group',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({ rule: rule(OTHER_TG) }),
          step: { kind: 'deleteRule', ruleArn: RULE },
          phase: 'Running',
        },
        {
          name: 'is done, Running, when task, target and rule are all in place',
          tenant: provisioning(),
          observed: serving(),
          step: { kind: 'done' },
          phase: 'Running',
        },
      ]),
    )('%s', (_name, { tenant: record, observed: observation, settings: overrides, step, phase }) => {
      // Prepare
      const planSettings = { ...settings, ...overrides };

      // Act
      const next = plan(record, observation, planSettings, NOW);

      // Assess
      expect(next).toEqual({ step, phase });
    });
  });

  describe.each<[Desired, { going: Phase; gone: Phase; reason: RegExp }]>([
    ['passivated', { going: 'Passivating', gone: 'Passivated', reason: /passivat/ }],
    ['deleted', { going: 'Deleting', gone: 'Deleted', reason: /delet/ }],
  ])('when the tenant should be %s', (desired, { going, gone, reason }) => {
    const record = (status: Partial<TenantStatus> = {}) => provisioning({ phase: 'Running', ...status }, { desired, generation: 2 });
    const stopping = task({ desiredStatus: 'STOPPED', stopCode: 'UserInitiated' });

    it.each(
      named<Row>([
        {
          name: 'deletes the host rule first, even while the task runs, so the host falls through to wake',
          tenant: record(),
          observed: serving(),
          step: { kind: 'deleteRule', ruleArn: RULE },
          phase: going,
        },
        {
          name: 'then stops the running task, saying why',
          tenant: record(),
          observed: serving({ rule: undefined }),
          step: { kind: 'stopTask', task: expect.objectContaining({ arn: RECORDED }), reason: expect.stringMatching(reason) },
          phase: going,
        },
        {
          name: 'then deletes the target group while the task is still stopping',
          tenant: record(),
          observed: serving({ rule: undefined, tasks: [stopping] }),
          step: { kind: 'deleteTargetGroup', targetGroupArn: TG },
          phase: going,
        },
        {
          name: 'then gives back the routing slot',
          tenant: record(),
          observed: observed({ tasks: [stopping] }),
          step: { kind: 'releaseSlot' },
          phase: going,
        },
        {
          name: 'then waits until ECS reports the task STOPPED',
          tenant: record({ slot: false }),
          observed: observed({ tasks: [stopping] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/stop/), until: 'task-change' },
          phase: going,
        },
        {
          name: `is done, ${gone}, once nothing is left`,
          tenant: record({ slot: false }),
          observed: observed({ tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] }),
          step: { kind: 'done' },
          phase: gone,
        },
      ]),
    )('%s', (_name, { tenant: current, observed: observation, step, phase }) => {
      // Act
      const next = plan(current, observation, settings, NOW);

      // Assess
      expect(next).toEqual({ step, phase });
    });
  });

  describe('with persistent data', () => {
    const withData: Partial<PlanSettings> = { persistentData: true, handover: 'stop-first' };
    const gone = task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'UserInitiated' });
    const deleting = (status: Partial<TenantStatus> = {}) =>
      provisioning({ phase: 'Deleting', slot: false, ...status }, { desired: 'deleted', generation: 2 });

    describe('when the tenant is deleted', () => {
      it.each(
        named<Row>([
          {
            name: 'removes the data once nothing runs and the listing lag has passed',
            tenant: deleting(),
            observed: observed({ tasks: [gone] }),
            settings: withData,
            step: { kind: 'removeData' },
            phase: 'Deleting',
          },
          {
            name: 'removes the data of a tenant that never ran a task',
            tenant: deleting({ task: undefined }),
            observed: observed(),
            settings: withData,
            step: { kind: 'removeData' },
            phase: 'Deleting',
          },
          {
            name: 'is done, Deleted, once the data is removed, without removing it again',
            tenant: deleting({ dataRemoved: true }),
            observed: observed({ tasks: [gone] }),
            settings: withData,
            step: { kind: 'done' },
            phase: 'Deleted',
          },
          {
            name: 'keeps the data while a task is still stopping',
            tenant: deleting(),
            observed: observed({ tasks: [task({ desiredStatus: 'STOPPED', stopCode: 'UserInitiated' })] }),
            settings: withData,
            step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/stop/), until: 'task-change' },
            phase: 'Deleting',
          },
          {
            name: 'keeps the data while a task may still be starting unlisted (listing lag)',
            tenant: deleting({
              task: undefined,
              launch: { clientToken: 'acme-g1-r1', capacityProvider: 'FARGATE_SPOT', requestedAt: inSeconds(-10) },
            }),
            observed: observed(),
            settings: withData,
            step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/starting/) },
            phase: 'Deleting',
          },
          {
            name: 'keeps the data while a task of a launch never seen may have been interrupted unlisted and still be stopping',
            tenant: deleting({
              task: undefined,
              launch: { clientToken: 'acme-g1-r1', capacityProvider: 'FARGATE_SPOT', requestedAt: inSeconds(-16) },
            }),
            observed: observed(),
            settings: withData,
            step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/starting/) },
            phase: 'Deleting',
          },
          {
            name: 'removes the data once the listing lag and the longest stop after the last launch have passed',
            tenant: deleting({
              task: undefined,
              launch: { clientToken: 'acme-g1-r1', capacityProvider: 'FARGATE_SPOT', requestedAt: inSeconds(-136) },
            }),
            observed: observed(),
            settings: withData,
            step: { kind: 'removeData' },
            phase: 'Deleting',
          },
          {
            name: 'stops the running task before anything else touches the data',
            tenant: deleting({ phase: 'Running', slot: true }),
            observed: serving({ rule: undefined }),
            settings: withData,
            step: { kind: 'stopTask', task: expect.objectContaining({ arn: RECORDED }), reason: expect.stringMatching(/delet/) },
            phase: 'Deleting',
          },
          {
            name: 'removes nothing when the installation keeps no data',
            tenant: deleting(),
            observed: observed({ tasks: [gone] }),
            settings: { persistentData: false },
            step: { kind: 'done' },
            phase: 'Deleted',
          },
        ]),
      )('%s', (_name, { tenant: current, observed: observation, settings: overrides, step, phase }) => {
        // Act
        const next = plan(current, observation, { ...settings, ...overrides }, NOW);

        // Assess
        expect(next).toEqual({ step, phase });
      });

      it('keeps the data of a passivated tenant: it sleeps, it is not gone', () => {
        // Prepare
        const asleep = provisioning({ phase: 'Passivating', slot: false }, { desired: 'passivated', generation: 2 });

        // Act
        const next = plan(asleep, observed({ tasks: [gone] }), { ...settings, ...withData }, NOW);

        // Assess
        expect(next).toEqual({ step: { kind: 'done' }, phase: 'Passivated' });
      });
    });

    describe('when a task is replaced (stop-first handover)', () => {
      const running = (status: Partial<TenantStatus> = {}) => provisioning({ phase: 'Running', ...status });
      const noticed = task({ desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' });

      it.each(
        named<Row>([
          {
            name: 'first deletes the rule of the interrupted task, so visitors get the waking page',
            tenant: running(),
            observed: serving({ tasks: [noticed] }),
            settings: withData,
            step: { kind: 'deleteRule', ruleArn: RULE },
            phase: 'Running',
          },
          {
            name: 'then stops an interrupted task that ECS still means to run',
            tenant: running(),
            observed: serving({ rule: undefined, tasks: [task({ stopCode: 'TerminationNotice' })] }),
            settings: withData,
            step: {
              kind: 'stopTask',
              task: expect.objectContaining({ arn: RECORDED }),
              reason: 'Dormouse: stopped before its replacement mounts the tenant data',
            },
            phase: 'Provisioning',
          },
          {
            name: 'then waits for ECS to report the old task STOPPED, starting nothing',
            tenant: running(),
            observed: serving({ rule: undefined, tasks: [noticed] }),
            settings: withData,
            step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/previous task to stop/), until: 'task-change' },
            phase: 'Provisioning',
          },
          {
            name: 'and only then starts the replacement',
            tenant: running(),
            observed: serving({
              rule: undefined,
              tasks: [task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' })],
            }),
            settings: withData,
            step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
            phase: 'Provisioning',
          },
          {
            name: 'waits for a task stopped by someone else (a duplicate) before starting one',
            tenant: running({ task: undefined }),
            observed: observed({ tasks: [task({ arn: OTHER, desiredStatus: 'STOPPED', stopCode: 'UserInitiated' })] }),
            settings: withData,
            step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.stringMatching(/previous task to stop/), until: 'task-change' },
            phase: 'Provisioning',
          },
          {
            name: 'starts the replacement while the interrupted task runs out its notice, as without data, with the overlap handover',
            tenant: running(),
            observed: serving({ tasks: [noticed] }),
            settings: { persistentData: true, handover: 'overlap' },
            step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
            phase: 'Running',
          },
          {
            name: 'hands over without a gap with the overlap handover: the old target goes once the new one is healthy',
            tenant: running(),
            observed: serving({
              tasks: [task({ arn: OTHER, ip: OLD_IP, desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' }), task()],
              targets: [target(OLD_IP, 'healthy'), target(IP, 'healthy')],
            }),
            settings: { persistentData: true, handover: 'overlap' },
            step: { kind: 'deregisterTarget', targetGroupArn: TG, ip: OLD_IP },
            phase: 'Running',
          },
        ]),
      )('%s', (_name, { tenant: current, observed: observation, settings: overrides, step, phase }) => {
        // Act
        const next = plan(current, observation, { ...settings, ...overrides }, NOW);

        // Assess
        expect(next).toEqual({ step, phase });
      });
    });
  });

  describe('when the reconciler gave up on this generation (Failed)', () => {
    const failed = (status: Partial<TenantStatus> = {}) =>
      provisioning({ phase: 'Failed', attempts: 4, failedGeneration: 1, lastError: 'The application exited with code 1.', ...status });

    it.each(
      named<Row>([
        {
          name: 'deletes a leftover host rule',
          tenant: failed(),
          observed: serving(),
          step: { kind: 'deleteRule', ruleArn: RULE },
          phase: 'Failed',
        },
        {
          name: 'stops a leftover task, saying why',
          tenant: failed(),
          observed: observed({ tasks: [task()], targetGroupArn: TG }),
          step: { kind: 'stopTask', task: expect.objectContaining({ arn: RECORDED }), reason: 'Dormouse: gave up after repeated failures' },
          phase: 'Failed',
        },
        {
          name: 'deletes a leftover target group',
          tenant: failed(),
          observed: observed({ targetGroupArn: TG }),
          step: { kind: 'deleteTargetGroup', targetGroupArn: TG },
          phase: 'Failed',
        },
        {
          name: 'gives back its routing slot',
          tenant: failed(),
          observed: observed(),
          step: { kind: 'releaseSlot' },
          phase: 'Failed',
        },
        {
          name: 'polls while a task is still stopping',
          tenant: failed({ slot: false }),
          observed: observed({ tasks: [task({ desiredStatus: 'STOPPED' })] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: expect.any(String), until: 'task-change' },
          phase: 'Failed',
        },
        {
          name: 'waits, without polling, for a new generation once nothing is left',
          tenant: failed({ slot: false, task: undefined }),
          observed: observed(),
          step: { kind: 'wait' },
          phase: 'Failed',
        },
      ]),
    )('%s', (_name, { tenant: current, observed: observation, step, phase }) => {
      // Act
      const next = plan(current, observation, settings, NOW);

      // Assess
      expect(next).toEqual({ step, phase });
    });

    it('tries again on a new generation (a wake after the failure)', () => {
      // Prepare
      const retried = tenant({ phase: 'Failed', attempts: 4, failedGeneration: 1 }, { generation: 2 });

      // Act
      const next = plan(retried, observed(), settings, NOW);

      // Assess
      expect(next.step).toEqual({ kind: 'claimSlot' });
      expect(next.phase).not.toBe('Failed');
    });
  });

  describe("when the tenant's plan or environment changes", () => {
    const onPro = (status: Partial<TenantStatus> = {}, spec: Partial<TenantSpec> = {}) =>
      provisioning({ phase: 'Running', ...status }, { plan: 'pro', generation: 2, ...spec });
    const trialTask = task({ launchedAs: TRIAL });
    const proTask = task({ arn: OTHER, ip: OLD_IP, capacityProvider: 'FARGATE', launchedAs: PRO });
    const withData: Partial<PlanSettings> = { persistentData: true, handover: 'stop-first' };
    const catalog = settings.plans;

    it.each(
      named<Row>([
        {
          name: 'starts a task on the new plan while the old one still serves (no gap), on Fargate for an on-demand plan',
          tenant: onPro(),
          observed: serving({ tasks: [trialTask] }),
          step: { kind: 'runTask', capacityProvider: 'FARGATE' },
          phase: 'Running',
        },
        {
          name: 'starts a task with the new environment when the tenant has one of its own',
          tenant: provisioning({ phase: 'Running' }, { environment: { GREETING: 'hello' } }),
          observed: serving({ tasks: [trialTask] }),
          step: { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
          phase: 'Running',
        },
        {
          name: 'waits for the new task while the old one serves',
          tenant: onPro({ task: { arn: OTHER, capacityProvider: 'FARGATE' } }),
          observed: serving({ tasks: [trialTask, { ...proTask, lastStatus: 'PENDING', ip: undefined }] }),
          step: { kind: 'wait', afterMs: settings.pollMs, reason: 'Waiting for the task to start', until: 'task-change' },
          phase: 'Running',
        },
        {
          name: 'lets go of the old task on the load balancer once the new one serves',
          tenant: onPro({ task: { arn: OTHER, capacityProvider: 'FARGATE' } }),
          observed: serving({ tasks: [trialTask, proTask], targets: [target(IP, 'healthy'), target(OLD_IP, 'healthy')] }),
          step: { kind: 'deregisterTarget', targetGroupArn: TG, ip: IP },
          phase: 'Running',
        },
        {
          name: 'then stops the old task, saying which plan replaced it',
          tenant: onPro({ task: { arn: OTHER, capacityProvider: 'FARGATE' } }),
          observed: serving({ tasks: [trialTask, proTask], targets: [target(IP, 'draining'), target(OLD_IP, 'healthy')] }),
          step: { kind: 'stopTask', task: trialTask, reason: 'Dormouse: replaced by a task on plan pro (was trial)' },
          phase: 'Running',
        },
        {
          name: 'with data (stop-first), first takes the rule away from the old task',
          tenant: onPro(),
          observed: serving({ tasks: [trialTask] }),
          settings: withData,
          step: { kind: 'deleteRule', ruleArn: RULE },
          phase: 'Running',
        },
        {
          name: 'with data (stop-first), then stops the old task before the new one mounts the data',
          tenant: onPro(),
          observed: serving({ tasks: [trialTask], rule: undefined }),
          settings: withData,
          step: { kind: 'stopTask', task: trialTask, reason: 'Dormouse: stopped before its replacement mounts the tenant data' },
          phase: 'Provisioning',
        },
        {
          name: 'with data (stop-first), starts the new task once the old one has STOPPED, without counting that stop as a failure',
          tenant: onPro(),
          observed: serving({
            tasks: [{ ...trialTask, lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'UserInitiated' }],
            rule: undefined,
          }),
          settings: withData,
          step: { kind: 'runTask', capacityProvider: 'FARGATE' },
          phase: 'Provisioning',
        },
        {
          name: 'stops at once a task started for a plan that changed again before it served, keeping the one that serves',
          tenant: provisioning({ phase: 'Running', task: { arn: OTHER, capacityProvider: 'FARGATE' } }, { environment: { THEME: 'dark' } }),
          observed: serving({ tasks: [trialTask, { ...proTask, lastStatus: 'PENDING', ip: undefined }] }),
          step: {
            kind: 'stopTask',
            task: { ...proTask, lastStatus: 'PENDING', ip: undefined },
            reason: expect.stringMatching(/^Dormouse: replaced by a task on plan trial/),
          },
          phase: 'Running',
        },
        {
          name: 'keeps a task started on an older definition of the same plan: the new one applies at the next start',
          tenant: provisioning({ phase: 'Running' }),
          observed: serving({ tasks: [task({ launchedAs: { ...TRIAL, revision: 'ffffffffffff' } })] }),
          step: { kind: 'done' },
          phase: 'Running',
        },
        {
          name: 'keeps a task that does not say what it was started as (started before plans existed)',
          tenant: onPro(),
          observed: serving(),
          step: { kind: 'done' },
          phase: 'Running',
        },
        {
          name: 'fails, in words an operator can act on, when its plan is not configured and nothing runs',
          tenant: provisioning({ phase: 'Provisioning', slot: false, task: undefined }, { plan: 'gold' }),
          observed: observed(),
          step: {
            kind: 'fail',
            reason: expect.stringMatching(/^Its plan gold is not configured; change its plan/),
            cause: 'unconfigured-plan',
          },
          phase: 'Failed',
        },
        {
          name: 'leaves a running task alone when its plan is no longer configured',
          tenant: onPro({}, { plan: 'gold' }),
          observed: serving({ tasks: [trialTask] }),
          step: { kind: 'done' },
          phase: 'Running',
        },
      ]),
    )('%s', (_name, { tenant: current, observed: observation, settings: overrides, step, phase }) => {
      // Act
      const next = plan(current, observation, { ...settings, ...overrides, plans: catalog }, NOW);

      // Assess
      expect(next).toEqual({ step, phase });
    });

    it('starts an on-demand plan on Fargate however Spot fares, and a Spot plan on Spot until refused too often', () => {
      // Prepare
      const fresh = (planName: string, spotFailures: number) =>
        tenant({ phase: 'Provisioning', slot: true, spotFailures }, { plan: planName });

      // Act
      const steps = [fresh('pro', 0), fresh('trial', 0), fresh('trial', 2)].map((current) => plan(current, observed(), settings, NOW).step);

      // Assess
      expect(steps).toEqual([
        { kind: 'runTask', capacityProvider: 'FARGATE' },
        { kind: 'runTask', capacityProvider: 'FARGATE_SPOT' },
        { kind: 'runTask', capacityProvider: 'FARGATE' },
      ]);
    });
  });

  describe('invariants', () => {
    const arbTask = fc.record({
      arn: fc.constantFrom(RECORDED, OTHER, `${OTHER}-2`),
      tenantId: fc.constant('acme'),
      lastStatus: fc.constantFrom('PROVISIONING', 'PENDING', 'RUNNING', 'STOPPING', 'STOPPED' as const),
      desiredStatus: fc.constantFrom('RUNNING', 'STOPPED' as const),
      capacityProvider: fc.constantFrom('FARGATE_SPOT', 'FARGATE' as const),
      ip: fc.option(fc.constantFrom(IP, OLD_IP), { nil: undefined }),
      stopCode: fc.option(fc.constantFrom('TerminationNotice', 'SpotInterruption', 'EssentialContainerExited', 'UserInitiated'), {
        nil: undefined,
      }),
      launchedAs: fc.option(fc.constantFrom(TRIAL, PRO, { ...TRIAL, revision: 'ffffffffffff' }), { nil: undefined }),
    }) as fc.Arbitrary<ObservedTask>;
    const arbObservation = fc.record({
      tasks: fc.uniqueArray(arbTask, { selector: (t) => t.arn, maxLength: 3 }),
      targetGroupArn: fc.option(fc.constant(TG), { nil: undefined }),
      targets: fc.array(
        fc.record({ ip: fc.constantFrom(IP, OLD_IP), health: fc.constantFrom('initial', 'healthy', 'unhealthy', 'draining' as const) }),
        { maxLength: 2 },
      ),
      rule: fc.option(fc.constantFrom(rule(), rule(OTHER_TG)), { nil: undefined }),
    }) as fc.Arbitrary<Observation>;
    const arbTenant = fc
      .record({
        desired: fc.constantFrom('running', 'passivated', 'deleted' as const),
        phase: fc.constantFrom('Pending', 'Queued', 'Provisioning', 'Running', 'Passivated', 'Waking' as const),
        slot: fc.boolean(),
        recorded: fc.boolean(),
        retryAt: fc.option(fc.integer({ min: -60, max: 60 }).map(inSeconds), { nil: undefined }),
        plan: fc.constantFrom('trial', 'pro', 'gone'),
      })
      .map(({ desired, phase, slot, recorded, retryAt, plan: planName }) =>
        tenant(
          { phase, slot, retryAt, ...(recorded ? { task: { arn: RECORDED, capacityProvider: 'FARGATE_SPOT' } } : {}) },
          { desired, generation: 2, plan: planName },
        ),
      );

    it("never starts a task while another one started as the tenant's plan and environment is live (invariant 1)", () => {
      fc.assert(
        fc.property(arbTenant, arbObservation, (current, observation) => {
          const next = plan(current, observation, settings, NOW);
          if (next.step.kind !== 'runTask') return;
          expect(liveTasks(observation.tasks).filter((live) => !isOutdated(live, current))).toEqual([]);
          // At most the task being replaced is left running beside the new one: two at a time.
          expect(liveTasks(observation.tasks).length).toBeLessThanOrEqual(1);
        }),
      );
    });

    it('never starts a task for a plan that is not configured, and never stops a live task of such a tenant to replace it', () => {
      fc.assert(
        fc.property(arbTenant, arbObservation, (current, observation) => {
          fc.pre(current.spec.plan === 'gone' && current.spec.desired === 'running' && current.status.failedGeneration === undefined);
          const next = plan(current, observation, settings, NOW);
          expect(next.step.kind).not.toBe('runTask');
          if (next.step.kind === 'stopTask') expect(next.step.reason).not.toMatch(/replaced by/);
        }),
      );
    });

    it('never starts a task while an earlier one may still have the data mounted (stop-first, invariant 6)', () => {
      const stopFirst: PlanSettings = { ...settings, persistentData: true, handover: 'stop-first' };
      fc.assert(
        fc.property(arbTenant, arbObservation, (current, observation) => {
          const next = plan(current, observation, stopFirst, NOW);
          if (next.step.kind === 'runTask') expect(observation.tasks.filter((candidate) => !isStopped(candidate))).toEqual([]);
        }),
      );
    });

    it('removes data only for a deleted tenant once every task it has is STOPPED', () => {
      const withData: PlanSettings = { ...settings, persistentData: true, handover: 'stop-first' };
      fc.assert(
        fc.property(arbTenant, arbObservation, fc.boolean(), (current, observation, removed) => {
          const record = { ...current, status: { ...current.status, dataRemoved: removed } };
          const next = plan(record, observation, withData, NOW);
          if (next.step.kind !== 'removeData') return;
          expect(record.spec.desired).toBe('deleted');
          expect(removed).toBe(false);
          expect(observation.tasks.filter((candidate) => !isStopped(candidate))).toEqual([]);
          expect(observation.rule).toBeUndefined();
          expect(observation.targetGroupArn).toBeUndefined();
        }),
      );
    });

    it('never creates a host rule unless the task it routes to is healthy', () => {
      fc.assert(
        fc.property(arbTenant, arbObservation, (current, observation) => {
          const next = plan(current, observation, settings, NOW);
          if (next.step.kind !== 'createRule') return;
          const [live] = liveTasks(observation.tasks);
          expect(observation.targets).toContainEqual({ ip: live!.ip, health: 'healthy' });
        }),
      );
    });

    it('never does anything but take things down when the tenant should not run', () => {
      const takingDown = new Set(['deleteRule', 'stopTask', 'deleteTargetGroup', 'releaseSlot', 'removeData', 'wait', 'done']);
      fc.assert(
        fc.property(arbTenant, arbObservation, fc.boolean(), (current, observation, persistentData) => {
          fc.pre(current.spec.desired !== 'running');
          expect(takingDown).toContain(plan(current, observation, { ...settings, persistentData }, NOW).step.kind);
        }),
      );
    });
  });
});

describe('backoffMs', () => {
  const backoff = { backoffBaseMs: 1_000, backoffMaxMs: 60_000 };

  it.each([
    { attempt: 1, ceiling: 1_000 },
    { attempt: 2, ceiling: 2_000 },
    { attempt: 3, ceiling: 4_000 },
    { attempt: 4, ceiling: 8_000 },
    { attempt: 6, ceiling: 32_000 },
  ])('doubles the ceiling with each attempt: attempt $attempt is at most $ceiling ms', ({ attempt, ceiling }) => {
    expect(backoffMs(attempt, backoff, 1)).toBe(ceiling);
    expect(backoffMs(attempt, backoff, 0)).toBe(ceiling / 2);
  });

  it.each([7, 10, 50, 5_000])('caps attempt %i at the maximum', (attempt) => {
    expect(backoffMs(attempt, backoff, 1)).toBe(60_000);
    expect(backoffMs(attempt, backoff, 0)).toBe(30_000);
  });

  it('treats attempt 0 like the first attempt', () => {
    expect(backoffMs(0, backoff, 1)).toBe(1_000);
  });

  it.each([0, 0.25, 0.5, 0.999_999])('keeps jitter %f within [half, full] of the ceiling', (random) => {
    const delay = backoffMs(3, backoff, random);

    expect(delay).toBeGreaterThanOrEqual(2_000);
    expect(delay).toBeLessThanOrEqual(4_000);
    expect(delay).toBe(Math.round(2_000 + 2_000 * random));
  });

  it('draws its own jitter when none is given, still within [half, full]', () => {
    const delays = Array.from({ length: 200 }, () => backoffMs(2, backoff));

    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2_000);
    expect(new Set(delays).size).toBeGreaterThan(1);
  });
});

describe('liveTasks and isDoomed', () => {
  it.each(
    named<{ name: string; task: ObservedTask; doomed: boolean; live: boolean }>([
      { name: 'a running task is live', task: task(), doomed: false, live: true },
      { name: 'a task still provisioning is live', task: task({ lastStatus: 'PROVISIONING', ip: undefined }), doomed: false, live: true },
      { name: 'a pending task is live', task: task({ lastStatus: 'PENDING' }), doomed: false, live: true },
      {
        name: 'a running task told to stop is doomed, not live',
        task: task({ desiredStatus: 'STOPPED', stopCode: 'UserInitiated' }),
        doomed: true,
        live: false,
      },
      {
        name: 'a task under a Spot termination notice is doomed, not live',
        task: task({ stopCode: 'TerminationNotice' }),
        doomed: true,
        live: false,
      },
      {
        name: 'a task under a Spot interruption is doomed, not live',
        task: task({ desiredStatus: 'STOPPED', stopCode: 'SpotInterruption' }),
        doomed: true,
        live: false,
      },
      {
        name: 'a stopped task is neither doomed nor live',
        task: task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'EssentialContainerExited' }),
        doomed: false,
        live: false,
      },
      {
        name: 'a stopped interrupted task is neither doomed nor live',
        task: task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'TerminationNotice' }),
        doomed: false,
        live: false,
      },
    ]),
  )('%s', (_name, { task: candidate, doomed, live }) => {
    expect(isDoomed(candidate)).toBe(doomed);
    expect(liveTasks([candidate])).toEqual(live ? [candidate] : []);
  });

  it('keeps only the live tasks, in order', () => {
    const first = task({ arn: 'a' });
    const stopped = task({ arn: 'b', lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
    const interrupted = task({ arn: 'c', stopCode: 'TerminationNotice' });
    const second = task({ arn: 'd', lastStatus: 'PENDING' });

    expect(liveTasks([first, stopped, interrupted, second])).toEqual([first, second]);
  });
});

describe('explainStop', () => {
  const stopped = (overrides: Partial<ObservedTask>) => task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ...overrides });

  it.each(
    named<{ name: string; task: ObservedTask; says: RegExp; advice: RegExp }>([
      {
        name: 'an image that cannot be pulled',
        task: stopped({
          stopCode: 'TaskFailedToStart',
          stoppedReason:
            'CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-app:v9: not found',
        }),
        says: /image could not be pulled/,
        advice: /Check the image name and tag/,
      },
      {
        name: 'a manifest that does not exist',
        task: stopped({ containerReason: 'manifest unknown: requested image not found' }),
        says: /image could not be pulled/,
        advice: /execution role may pull it/,
      },
      {
        name: 'a secret that cannot be fetched',
        task: stopped({
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed',
        }),
        says: /could not be set up/,
        advice: /Check the task execution role/,
      },
      {
        name: 'a container killed for memory',
        task: stopped({
          stopCode: 'EssentialContainerExited',
          containerReason: 'OutOfMemoryError: Container killed due to memory usage',
          exitCode: 137,
        }),
        says: /ran out of memory/,
        advice: /Give the task more memory/,
      },
      {
        name: 'a container killed with 137 after failing its health checks',
        task: stopped({ stoppedReason: 'Task failed container health checks', exitCode: 137 }),
        says: /kept failing its health check/,
        advice: /health check path and port/,
      },
      {
        name: 'exit code 137 without a reason',
        task: stopped({ stopCode: 'EssentialContainerExited', stoppedReason: 'Essential container in task exited', exitCode: 137 }),
        says: /ran out of memory/,
        advice: /Give the task more memory/,
      },
      {
        name: 'an application that exits with an error code',
        task: stopped({ stopCode: 'EssentialContainerExited', stoppedReason: 'Essential container in task exited', exitCode: 3 }),
        says: /exited with code 3/,
        advice: /Check its logs/,
      },
      {
        name: 'a failing load balancer health check',
        task: stopped({
          stopCode: 'ServiceSchedulerInitiated',
          stoppedReason:
            'Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dm-acme/6d0ecf831eec9f09)',
        }),
        says: /kept failing its health check/,
        advice: /Check that it answers on the health check path and port/,
      },
    ]),
  )('explains %s and says what to do', (_name, { task: candidate, says, advice }) => {
    // Act
    const sentence = explainStop(candidate);

    // Assess
    expect(sentence).toMatch(says);
    expect(sentence).toMatch(advice);
    expect(sentence).toMatch(/\.$/);
  });

  it('keeps the raw ECS reasons at the end in brackets, for searching', () => {
    const sentence = explainStop(
      stopped({ containerReason: 'CannotPullContainerError: access denied', stoppedReason: 'Task failed to start' }),
    );

    expect(sentence).toMatch(/\(CannotPullContainerError: access denied; Task failed to start\)\.$/);
  });

  it('names missing Fargate capacity as AWS’s doing, not the application’s', () => {
    const sentence = explainStop(
      stopped({ stoppedReason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone' }),
    );

    expect(sentence).toMatch(/^AWS had no Fargate capacity/);
    expect(sentence).toMatch(/Dormouse retries/);
    expect(sentence).not.toMatch(/application/);
  });

  it('does not call a clean exit (code 0) an error code', () => {
    const sentence = explainStop(stopped({ stoppedReason: 'Essential container in task exited', exitCode: 0 }));

    expect(sentence).not.toMatch(/exited with code/);
    expect(sentence).toMatch(/stopped unexpectedly\. Check the application's logs.*\(Essential container in task exited\)\.$/);
  });

  it('adds no empty brackets when ECS gave no reason', () => {
    expect(explainStop(stopped({}))).toBe(
      "The task stopped unexpectedly. Check the application's logs, then wake the tenant to try again.",
    );
  });
});

describe('planRevision', () => {
  const trial = builtInPlans({ cpu: 256, memory: 512, idleMs: 900_000, trialDays: 14 }).plans[0]!;

  it('changes with what a task is started as: size, capacity, image and environment', () => {
    const changed = [
      { ...trial, cpu: 512, memory: 1024 },
      { ...trial, capacity: 'on-demand' as const },
      { ...trial, image: 'public.ecr.aws/acme/app:2' },
      { ...trial, environment: { THEME: 'dark' } },
    ];

    expect(changed.map(planRevision)).not.toContain(planRevision(trial));
  });

  it('stays the same when only what applies without a new task changes: sleep, trial length, being offered, hours', () => {
    const keepWarm = { timeZone: 'Europe/Paris', days: ['mon' as const], from: '08:00', to: '18:00' };
    const same = [
      { ...trial, idleMs: 1_800_000 },
      { ...trial, trialDays: 30 },
      { ...trial, public: false },
      { ...trial, keepWarm },
    ];

    expect(same.map(planRevision)).toEqual(same.map(() => planRevision(trial)));
  });
});
