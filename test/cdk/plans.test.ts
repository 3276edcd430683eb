import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDormouseConfig } from '../../cdk/config.js';
import { createDormouseApp } from '../../cdk/dormouse-app.js';
import { LAMBDA_ENVIRONMENT_LIMIT, environmentSize } from '../../cdk/environment-size.js';
import { plansSetting } from '../../cdk/plans.js';
import { parsePlanCatalog, readPlansSetting } from '../../shared/config/plans.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import {
  CDK_JSON_CONTEXT,
  PRODUCTION_CONFIG,
  asArray,
  functionId,
  functionStatements,
  referencedId,
  resolveForTest,
  resourcesOf,
  synthesize,
  type CfnResource,
  type Synthesized,
  configProblems,
  MINIMAL_CONFIG,
} from './support.js';

/** The example plans file: a Spot trial offered at signup, and a larger on-demand plan kept warm in office hours. */
const EXAMPLE_PLANS = [
  { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14, public: true },
  {
    name: 'pro',
    cpu: 1024,
    memory: 2048,
    capacity: 'on-demand',
    sleepAfterMinutes: 'never',
    keepWarm: { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' },
  },
];

const PRO_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/app-pro:2.0';
/** The example, with the pro plan on an image and environment of its own, and a plan on a Docker Hub image. */
const PLANS_WITH_IMAGE = [
  EXAMPLE_PLANS[0],
  { ...EXAMPLE_PLANS[1], image: PRO_IMAGE, environment: { APP_TIER: 'pro' } },
  { name: 'team', cpu: 512, memory: 1024, capacity: 'on-demand', sleepAfterMinutes: 60, public: false },
  { name: 'lab', image: 'acme/lab:1.0', sleepAfterMinutes: 30 },
];

/** The services of the functions that read plans (shared/config/settings.ts, DORMOUSE_PLANS readBy). */
const READ_PLANS = ['dormouse-api', 'dormouse-reconcile', 'dormouse-sweep', 'dormouse-task-events', 'dormouse-wake'];

/** What the functions are told, by service. */
function environmentOf(synth: Synthesized, service: string): Record<string, unknown> {
  const fn = synth.template.toJSON().Resources[functionId(synth.template, service)] as CfnResource;
  return fn.Properties.Environment.Variables as Record<string, unknown>;
}

describe('dormouse.plans', () => {
  it("is read by the functions' own parser, defaults applied", () => {
    const config = parseDormouseConfig({ ...MINIMAL_CONFIG, plans: EXAMPLE_PLANS });
    expect(config.plans).toEqual(parsePlanCatalog(EXAMPLE_PLANS, 'dormouse.plans'));
    expect(config.plans.plans.map((plan) => [plan.name, plan.capacity, plan.idleMs, plan.trialDays])).toEqual([
      ['trial', 'spot', 15 * 60_000, 14],
      ['pro', 'on-demand', undefined, undefined],
    ]);
  });

  it('defaults to the built-in trial and pro at the configured size, idle timeout and trial length', () => {
    const config = parseDormouseConfig({ ...MINIMAL_CONFIG, cpu: 512, memory: 2048, idleTimeoutMinutes: 30, trialDays: 7 });
    expect(config.plans).toEqual(builtInPlans({ cpu: 512, memory: 2048, idleMs: 30 * 60_000, trialDays: 7 }));
  });

  it('may be the path of a JSON file', () => {
    const directory = mkdtempSync(join(tmpdir(), 'dormouse-plans-'));
    try {
      const file = join(directory, 'plans.json');
      writeFileSync(file, JSON.stringify(EXAMPLE_PLANS));
      expect(parseDormouseConfig({ ...MINIMAL_CONFIG, plans: file }).plans).toEqual(parsePlanCatalog(EXAMPLE_PLANS, 'dormouse.plans'));
      expect(configProblems({ ...MINIMAL_CONFIG, plans: join(directory, 'missing.json') })).toEqual([
        expect.stringMatching(/^dormouse\.plans: cannot read the file .*missing\.json \(ENOENT\)/),
      ]);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it.each([
    [
      'memory Fargate does not offer with the CPU',
      [{ ...EXAMPLE_PLANS[0], memory: 4096 }],
      'dormouse.plans: plan "trial", memory: must suit cpu 256 on Fargate: one of 512, 1024, 2048',
    ],
    [
      'an unknown capacity',
      [{ ...EXAMPLE_PLANS[0], capacity: 'spotty' }],
      'dormouse.plans: plan "trial", capacity: must be one of: spot, on-demand',
    ],
    ['a misspelt field', [{ ...EXAMPLE_PLANS[0], trailDays: 3 }], 'dormouse.plans: plan "trial": trailDays is not a known field'],
    [
      'an image ECS cannot pull',
      [EXAMPLE_PLANS[0], { ...EXAMPLE_PLANS[1], image: 'acme app:1.0' }],
      'dormouse.plans: plan "pro", image: must be a container image like <account>.dkr.ecr.<region>.amazonaws.com/app:1.0 or public.ecr.aws/org/app:1.0',
    ],
    [
      'sleeping sooner than the sweep looks',
      [{ ...EXAMPLE_PLANS[0], sleepAfterMinutes: 2 }],
      'dormouse.plans: plan "trial", sleepAfterMinutes: must be at least sweepRateMinutes (5)',
    ],
    [
      'a trial no longer than its expiring notice',
      [{ ...EXAMPLE_PLANS[0], trialDays: 1 }],
      'dormouse.plans: plan "trial", trialDays: must be longer than expiringNoticeHours (24)',
    ],
  ])('refuses %s, naming the plan and the field', (_, plans, expected) => {
    expect(configProblems({ ...MINIMAL_CONFIG, sweepRateMinutes: 5, plans })).toEqual([expect.stringContaining(expected)]);
  });

  it("takes keep-warm hours with equal times, the whole day, as it takes them for a tenant's own", () => {
    const allDay = { timeZone: 'Europe/Paris', days: ['sat'], from: '00:00', to: '00:00' };

    const catalog = parsePlanCatalog([{ ...EXAMPLE_PLANS[0], keepWarm: allDay }], 'dormouse.plans');

    expect(catalog.plans[0]!.keepWarm).toEqual(allDay);
  });

  it('fails the synth, with every other mistake of the configuration', () => {
    expect(() =>
      createDormouseApp({
        context: {
          ...CDK_JSON_CONTEXT,
          'aws:cdk:bundling-stacks': [],
          dormouse: { ...CDK_JSON_CONTEXT.dormouse, maxActiveTenants: 150, plans: [{ ...EXAMPLE_PLANS[0], public: false }] },
        },
      }),
    ).toThrow(/dormouse\.maxActiveTenants: must be a whole number from 1 to 99[^\n]*\n\s+dormouse\.plans: no plan is public/);
  });

  it('is written for DORMOUSE_PLANS as plans-file JSON that reads back as the same plans', () => {
    for (const plans of [EXAMPLE_PLANS, PLANS_WITH_IMAGE]) {
      const catalog = parsePlanCatalog(plans, 'dormouse.plans');
      expect(readPlansSetting(plansSetting(catalog))).toEqual(catalog);
    }
    const builtIn = builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 });
    expect(readPlansSetting(plansSetting(builtIn))).toEqual(builtIn);
  });
});

describe('an installation with plans of its own, one on an image of its own', () => {
  let synth: Synthesized;
  const config = { ...PRODUCTION_CONFIG, plans: PLANS_WITH_IMAGE };

  beforeAll(() => {
    synth = synthesize(config);
  }, 120_000);
  afterAll(() => synth?.cleanup());

  const taskDefinitions = () => resourcesOf(synth.template, 'AWS::ECS::TaskDefinition');
  const installationTask = () =>
    Object.entries(taskDefinitions()).find(([, td]) => td.Properties.Family === 'Dormouse-tenant') as [string, CfnResource];
  const proTask = () =>
    Object.entries(taskDefinitions()).find(([, td]) => td.Properties.Family === 'Dormouse-tenant-pro') as [string, CfnResource];

  it('tells the functions that read plans the resolved plans, and no other function', () => {
    const expected = parseDormouseConfig(config).plans;
    for (const service of READ_PLANS) {
      expect(readPlansSetting(String(environmentOf(synth, service).DORMOUSE_PLANS)), service).toEqual(expected);
    }
    for (const service of ['dormouse-stream-publisher', 'dormouse-tenant-data']) {
      expect(environmentOf(synth, service).DORMOUSE_PLANS, service).toBeUndefined();
    }
  });

  it("gives the plan with an image a task definition of its own, like the installation's but for image and size", () => {
    expect(
      Object.values(taskDefinitions())
        .map((td) => td.Properties.Family)
        .sort(),
    ).toEqual(['Dormouse-tenant', 'Dormouse-tenant-lab', 'Dormouse-tenant-pro']);
    const [, installation] = installationTask();
    const [, pro] = proTask();
    const [installationContainer] = installation.Properties.ContainerDefinitions;
    const [proContainer] = pro.Properties.ContainerDefinitions;

    expect(pro.Properties).toMatchObject({ Cpu: '1024', Memory: '2048', RequiresCompatibilities: ['FARGATE'] });
    for (const same of ['TaskRoleArn', 'ExecutionRoleArn', 'NetworkMode', 'RuntimePlatform', 'Volumes']) {
      expect(pro.Properties[same], same).toEqual(installation.Properties[same]);
    }
    expect(proContainer).toMatchObject({ Name: 'app', Essential: true, PortMappings: installationContainer.PortMappings });
    expect(proContainer.LogConfiguration).toEqual(installationContainer.LogConfiguration);
    expect(resolveForTest(proContainer.Image)).toContain('/acme/app-pro:2.0');
    // The installation's environment (none here); the plan's own goes on each task at RunTask.
    expect(proContainer.Environment).toBeUndefined();
  });

  it('tells the reconciler (and the sweep) which task definition each plan with an image runs', () => {
    const [proId] = proTask();
    const [labId] = Object.entries(taskDefinitions()).find(([, td]) => td.Properties.Family === 'Dormouse-tenant-lab') ?? [];
    for (const service of ['dormouse-reconcile', 'dormouse-sweep']) {
      const value = JSON.parse(resolveForTest(environmentOf(synth, service).DORMOUSE_PLAN_TASK_DEFINITIONS));
      expect(value, service).toEqual({ pro: proId, lab: labId });
    }
  });

  it("lets the reconciler run only this installation's task definitions, the plan's too, in this cluster, tagged on the way", () => {
    const statements = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile'));
    const run = statements.filter((s) => asArray(s.Action).includes('ecs:RunTask'));
    expect(run).toHaveLength(1);
    expect(
      asArray(run[0]?.Resource)
        .map(resolveForTest)
        .map((arn) => arn.replace(/^.*:task-definition\//, ''))
        .sort(),
    ).toEqual(['Dormouse-tenant-lab:*', 'Dormouse-tenant-pro:*', 'Dormouse-tenant:*', `dm-${synth.stack.installation}-*:*`]);
    const [clusterId] = Object.keys(resourcesOf(synth.template, 'AWS::ECS::Cluster'));
    expect(referencedId(run[0]?.Condition?.ArnEquals?.['ecs:cluster'])).toBe(clusterId);
    expect(run[0]?.Condition?.StringEquals).toEqual({ 'aws:RequestTag/dormouse:installation': synth.stack.installation });

    // Passing roles: the two tenant roles, which the plan's task definition shares.
    const [, pro] = proTask();
    const passRole = statements.filter((s) => asArray(s.Action).includes('iam:PassRole'));
    expect(passRole).toHaveLength(1);
    expect(asArray(passRole[0]?.Resource).map(referencedId).sort()).toEqual(
      [referencedId(pro.Properties.TaskRoleArn), referencedId(pro.Properties.ExecutionRoleArn)].sort(),
    );
  });

  it('lets an on-demand plan run on FARGATE: the cluster has it, and no IAM condition holds RunTask or its tags to Spot', () => {
    const [association] = Object.values(resourcesOf(synth.template, 'AWS::ECS::ClusterCapacityProviderAssociations'));
    expect([...(association?.Properties.CapacityProviders as string[])].sort()).toEqual(['FARGATE', 'FARGATE_SPOT']);
    // Only tasks started by hand use the default; the reconciler names its capacity provider.
    expect(association?.Properties.DefaultCapacityProviderStrategy).toEqual([{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }]);

    const ecs = functionStatements(synth.template, functionId(synth.template, 'dormouse-reconcile')).filter((s) =>
      asArray(s.Action).some((action) => ['ecs:RunTask', 'ecs:TagResource'].includes(action)),
    );
    const conditionKeys = ecs.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((keys) => Object.keys(keys)));
    // No capacity provider condition, and no aws:TagKeys list: the reconciler may add tags such as
    // dormouse:launched-as, so long as the installation's tag is among them.
    expect(conditionKeys.filter((key) => key.startsWith('ecs:capacity-provider') || key === 'aws:TagKeys')).toEqual([]);
    expect(conditionKeys).toEqual(expect.arrayContaining(['ecs:cluster', 'aws:RequestTag/dormouse:installation', 'ecs:CreateAction']));
  });

  it('lets the execution role pull the plan image from its repository, and passes cdk-nag', () => {
    const pulls = Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy'))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>)
      .filter((s) => asArray(s.Action as string[]).includes('ecr:BatchGetImage'));
    expect(JSON.stringify(pulls)).toContain(':repository/acme/app-pro');
    const errors = synth.report.pluginReports.flatMap((report) => report.violations).filter((v) => v.severity === 'error');
    expect(errors).toEqual([]);
  });

  it('warns that a plan image on Docker Hub will hit its pull limit, naming the plan', () => {
    const warnings = synth.report.pluginReports
      .flatMap((report) => report.violations)
      .filter((v) => v.severity === 'warning')
      .map((v) => v.description);
    expect(warnings).toEqual([expect.stringContaining('dormouse.plans: plan "lab", image acme/lab:1.0 is pulled from Docker Hub')]);
  });

  it("keeps every function's environment within Lambda's 4 KB, counting ARNs and names at their longest", () => {
    const { api, reconcile, sweep, wake } = synth.stack.controlPlane;
    for (const fn of [api, reconcile, sweep, wake]) {
      const { total, byName } = environmentSize(fn);
      expect(total, fn.node.id).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_LIMIT);
      expect(byName.DORMOUSE_PLANS, fn.node.id).toBe(JSON.stringify(plansSetting(synth.stack.config.plans)).length - 2);
    }
  });
});

describe('an installation that declares no plans', () => {
  let synth: Synthesized;
  const config = { ...MINIMAL_CONFIG, cpu: 512, memory: 2048, idleTimeoutMinutes: 30, trialDays: 7 };

  beforeAll(() => {
    synth = synthesize(config);
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('still writes the plans out, the built-in ones at the configured size, so no function falls back to sizes of its own', () => {
    const expected = builtInPlans({ cpu: 512, memory: 2048, idleMs: 30 * 60_000, trialDays: 7 });
    for (const service of READ_PLANS) {
      expect(readPlansSetting(String(environmentOf(synth, service).DORMOUSE_PLANS)), service).toEqual(expected);
    }
  });

  it('has one tenant task definition, and tells the reconciler of no plan task definitions', () => {
    expect(Object.keys(resourcesOf(synth.template, 'AWS::ECS::TaskDefinition'))).toHaveLength(1);
    expect(environmentOf(synth, 'dormouse-reconcile').DORMOUSE_PLAN_TASK_DEFINITIONS).toBeUndefined();
  });
});

describe("Lambda's 4 KB environment", () => {
  it('stops the synth, naming the function and DORMOUSE_PLANS, when the plans would not fit', () => {
    // 20 plans with a 100-character variable each: about 4.7 KB of plans on their own.
    const plans = Array.from({ length: 20 }, (_, index) => ({
      name: `plan-${index}`,
      public: true,
      environment: { GREETING: 'x'.repeat(100) },
    }));
    const outdir = mkdtempSync(join(tmpdir(), 'dormouse-cdk-'));
    try {
      const { app } = createDormouseApp({
        outdir,
        context: { ...CDK_JSON_CONTEXT, dormouse: { ...MINIMAL_CONFIG, plans }, 'aws:cdk:bundling-stacks': [] },
      });
      expect(() => app.synth()).toThrow(
        /The Api function's environment would take about \d+ bytes, over Lambda's 4096 \(largest: DORMOUSE_PLANS \d+/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
