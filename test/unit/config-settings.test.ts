import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadEmbeddedConfig, loadReconcilerConfig, machineArchitecture, unknownSettings } from '../../shared/config.js';
import { RECONCILE_DEFAULTS, reconcileSettings } from '../../shared/config/reconcile-settings.js';
import { configurationTables, withTables } from '../../shared/config/readme.js';
import { SETTINGS, declaredDefault, readSettings, withLocalDefaults, type Setting } from '../../shared/config/settings.js';

const README = new URL('../../README.md', import.meta.url);
const declared = Object.entries(SETTINGS as Record<string, Setting>);

const reconcilerEnv = {
  DORMOUSE_TABLE_NAME: 'tenants',
  DORMOUSE_INSTALLATION: 'test',
  DORMOUSE_BASE_URL: 'https://trials.example.com',
  DORMOUSE_CLUSTER: 'dormouse',
  DORMOUSE_TASK_DEFINITION: 'dormouse-tenant:1',
  DORMOUSE_SUBNETS: 'subnet-a',
  DORMOUSE_SECURITY_GROUPS: 'sg-a',
  DORMOUSE_VPC_ID: 'vpc-a',
  DORMOUSE_LISTENER_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/dormouse/1/2',
};

describe('the configuration declaration', () => {
  it('agrees with the configuration tables of the README (regenerate them with npm run config:readme)', () => {
    const readme = readFileSync(README, 'utf8');

    expect(readme).toBe(withTables(readme, configurationTables()));
  });

  it('lists every DORMOUSE_* variable the README names in its tables, and no other', () => {
    const readme = readFileSync(README, 'utf8');
    const tables = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Deploy to AWS'));
    const named = new Set([...tables.matchAll(/^\| `(DORMOUSE_\w+)`/gm)].map((match) => match[1]));

    expect([...named].sort()).toEqual(declared.map(([name]) => name).sort());
  });

  it.each(declared)('%s: its defaults are values its parser accepts', (_name, setting) => {
    for (const value of [setting.default, setting.localDefault]) {
      if (value !== undefined) expect(z.safeParse(setting.parser, value).success).toBe(true);
    }
    expect(setting.default !== undefined && setting.unset !== undefined).toBe(false);
  });

  it('reads each program its own variables, defaults included, and nothing else', () => {
    const parsed = readSettings('wake', { ...reconcilerEnv, DORMOUSE_MIN_RUN_MINUTES: '7' });

    expect(parsed).toEqual({
      DORMOUSE_TABLE_NAME: 'tenants',
      DORMOUSE_BASE_URL: new URL('https://trials.example.com'),
      DORMOUSE_MAX_ACTIVE_TENANTS: 90,
      DORMOUSE_SHARDS: 1,
      DORMOUSE_MIN_RUN_MINUTES: 7,
      DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: 6,
      // The built-in plans, which the wake function knows when DORMOUSE_PLANS is unset.
      DORMOUSE_TRIAL_DAYS: 14,
      DORMOUSE_IDLE_MINUTES: 15,
      DORMOUSE_WAKE_HOLD_SECONDS: 25,
      // The pages' accent colour, for its waking pages.
      DORMOUSE_BRAND_ACCENT: '#1565c0',
    });
  });

  it("fills in embedded mode's own defaults only where a variable is unset or empty", () => {
    expect(withLocalDefaults({ DORMOUSE_TABLE_NAME: '', DORMOUSE_INSTALLATION: 'dev' })).toMatchObject({
      DORMOUSE_TABLE_NAME: 'dormouse-tenants',
      DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'dormouse-idempotency',
      DORMOUSE_INSTALLATION: 'dev',
      DORMOUSE_EMAIL_SENDER: 'Dormouse <dormouse@localhost>',
    });
  });

  it("knows embedded mode's variables and the API's as settings of embedded mode, and no Lambda-only one", () => {
    const env = { DORMOUSE_GATEWAY_PORT: '1', DORMOUSE_TRIAL_DAYS: '3', DORMOUSE_HANDOVER: 'overlap', DORMOUSE_CLUSTER: 'c' };

    expect(unknownSettings(env, ['api', 'embedded'])).toEqual([{ name: 'DORMOUSE_CLUSTER', closest: 'DORMOUSE_PLANS' }]);
  });

  it('gives the health check the same default locally as on AWS, and a new task as long to become healthy', () => {
    expect(loadEmbeddedConfig({}).healthCheckPath).toBe(loadReconcilerConfig(reconcilerEnv).elb.healthCheckPath);
    expect(loadEmbeddedConfig({}).unhealthyTimeoutMs).toBe(RECONCILE_DEFAULTS.unhealthyTimeoutMs);
    expect(declaredDefault('DORMOUSE_HEALTH_CHECK_PATH')).toBe('/');
  });
});

describe('routing shards', () => {
  const second = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/dormouse-1/3/4';
  // More than one shard gives every tenant a record of its own.
  const dns = { DORMOUSE_HOSTED_ZONE_ID: 'Z0123456789ABC' };

  it('reads one listener per shard, in shard order', () => {
    const config = loadReconcilerConfig({
      ...reconcilerEnv,
      ...dns,
      DORMOUSE_SHARDS: '2',
      DORMOUSE_LISTENER_ARN: `${reconcilerEnv.DORMOUSE_LISTENER_ARN},${second}`,
    });

    expect(config.shards).toBe(2);
    expect(config.elb.listenerArns).toEqual([reconcilerEnv.DORMOUSE_LISTENER_ARN, second]);
    expect(reconcileSettings(config).shards).toBe(2);
  });

  it("completes a listener given as its end with the first listener's start, and names an entry that is neither", () => {
    const config = loadReconcilerConfig({
      ...reconcilerEnv,
      ...dns,
      DORMOUSE_SHARDS: '3',
      DORMOUSE_LISTENER_ARN: `${reconcilerEnv.DORMOUSE_LISTENER_ARN},app/dormouse-1/3/4,${second}`,
    });
    expect(config.elb.listenerArns).toEqual([reconcilerEnv.DORMOUSE_LISTENER_ARN, second, second]);

    expect(() =>
      loadReconcilerConfig({
        ...reconcilerEnv,
        DORMOUSE_SHARDS: '3',
        DORMOUSE_LISTENER_ARN: 'app/dormouse/1/2,app/dormouse-1/3/4,dormouse-2/5/6',
      }),
    ).toThrow(
      new ConfigError([
        'DORMOUSE_LISTENER_ARN: entry 1 (app/dormouse/1/2) must be a listener ARN arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<listener-id>',
        'DORMOUSE_LISTENER_ARN: entry 2 (app/dormouse-1/3/4) must be a listener ARN arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<listener-id>, or after a whole first one, its end app/<name>/<id>/<listener-id>',
        'DORMOUSE_LISTENER_ARN: entry 3 (dormouse-2/5/6) must be a listener ARN arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<listener-id>, or after a whole first one, its end app/<name>/<id>/<listener-id>',
      ]),
    );
  });

  it('stops start-up when the listeners and DORMOUSE_SHARDS disagree, and past 20 shards', () => {
    expect(() => loadReconcilerConfig({ ...reconcilerEnv, DORMOUSE_SHARDS: '2' })).toThrow(
      /DORMOUSE_LISTENER_ARN: lists 1 value\(s\) but DORMOUSE_SHARDS is 2/,
    );
    expect(() => loadEmbeddedConfig({ DORMOUSE_SHARDS: '21' })).toThrow(/DORMOUSE_SHARDS: must be at most 20 load balancers/);
    expect(loadEmbeddedConfig({ DORMOUSE_SHARDS: '3' }).reconcile.shards).toBe(3);
  });
});

describe('loadEmbeddedConfig', () => {
  it('holds DORMOUSE_MAX_ACTIVE_TENANTS under the ALB limit as the reconciler does', () => {
    expect(() => loadEmbeddedConfig({ DORMOUSE_MAX_ACTIVE_TENANTS: '100' })).toThrow(
      /DORMOUSE_MAX_ACTIVE_TENANTS: must stay under the ALB hard limit of 100 target groups/,
    );
    expect(() => loadReconcilerConfig({ ...reconcilerEnv, DORMOUSE_MAX_ACTIVE_TENANTS: '100' })).toThrow(
      /DORMOUSE_MAX_ACTIVE_TENANTS: must stay under the ALB hard limit of 100 target groups/,
    );
  });

  it('applies the documented defaults, keeps tenant data and reads the handover', () => {
    expect(loadEmbeddedConfig({})).toEqual({
      installation: 'local',
      apiPort: 3000,
      gatewayPort: 8080,
      healthCheckPath: '/',
      unhealthyTimeoutMs: 300_000,
      sweepMs: 30_000,
      idleMs: 900_000,
      minRunMs: 300_000,
      stuckMs: 900_000,
      anonymousWakesPerHour: 6,
      wakeHoldMs: 25_000,
      warmLeadMs: 300_000,
      taskArchitecture: machineArchitecture(),
      reconcile: {
        maxActiveTenants: 90,
        shards: 1,
        spotAttemptsBeforeFallback: 3,
        fallbackToOnDemand: true,
        maxRestarts: 3,
        tombstoneSeconds: 7 * 86_400,
        persistentData: true,
        handover: 'stop-first',
        plans: expect.objectContaining({ plans: expect.any(Array) }),
      },
    });
    expect(loadEmbeddedConfig({ DORMOUSE_HANDOVER: 'overlap' }).reconcile.handover).toBe('overlap');
    expect(() => loadEmbeddedConfig({ DORMOUSE_HANDOVER: 'both' })).toThrow(/DORMOUSE_HANDOVER/);
  });

  it('prices at the architecture of the machine the tenants run on, unless DORMOUSE_TASK_ARCHITECTURE says otherwise', () => {
    expect(machineArchitecture('arm64')).toBe('arm64');
    expect(machineArchitecture('x64')).toBe('x86_64');
    expect(loadEmbeddedConfig({}, 'arm64').taskArchitecture).toBe('arm64');
    expect(loadEmbeddedConfig({ DORMOUSE_TASK_ARCHITECTURE: '' }, 'arm64').taskArchitecture).toBe('arm64');
    expect(loadEmbeddedConfig({ DORMOUSE_TASK_ARCHITECTURE: 'x86_64' }, 'arm64').taskArchitecture).toBe('x86_64');
    expect(loadEmbeddedConfig({ DORMOUSE_TASK_ARCHITECTURE: 'arm64' }, 'x86_64').taskArchitecture).toBe('arm64');
  });

  it('names a malformed embedded setting', () => {
    expect(() => loadEmbeddedConfig({ DORMOUSE_SWEEP_SECONDS: '0.5' })).toThrow(/DORMOUSE_SWEEP_SECONDS: must be at least 1 second/);
    expect(() => loadEmbeddedConfig({ DORMOUSE_API_PORT: '70000' })).toThrow(/DORMOUSE_API_PORT/);
    expect(() => loadEmbeddedConfig({ DORMOUSE_INSTALLATION: 'Not-Valid' })).toThrow(/DORMOUSE_INSTALLATION/);
  });
});

describe('reconcileSettings', () => {
  it('puts the loaded policy together with the default timings', () => {
    const settings = reconcileSettings(loadReconcilerConfig(reconcilerEnv));

    expect(settings).toMatchObject({
      ...RECONCILE_DEFAULTS,
      maxActiveTenants: 90,
      spotAttemptsBeforeFallback: 3,
      fallbackToOnDemand: true,
      maxRestarts: 3,
      tombstoneSeconds: 7 * 86_400,
      persistentData: false,
      handover: 'stop-first',
    });
    expect(settings.hostFor('acme')).toBe('acme.trials.example.com');
  });

  it('keeps tenant data when DORMOUSE_DATA_PATH is set, and takes the handover asked for', () => {
    const config = loadReconcilerConfig({
      ...reconcilerEnv,
      DORMOUSE_DATA_PATH: '/data',
      DORMOUSE_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
      DORMOUSE_DATA_FUNCTION: 'dormouse-DataCleaner',
      DORMOUSE_HANDOVER: 'overlap',
    });

    expect(config.storage?.dataPath).toBe('/data');
    expect(reconcileSettings(config)).toMatchObject({ persistentData: true, handover: 'overlap' });
  });

  it('takes timings given as data over the defaults', () => {
    const settings = reconcileSettings(loadReconcilerConfig(reconcilerEnv), { pollMs: 500, listingLagMs: 0 });

    expect(settings).toMatchObject({ pollMs: 500, listingLagMs: 0, leaseMs: RECONCILE_DEFAULTS.leaseMs });
  });
});

describe('loadReconcilerConfig: DORMOUSE_PLAN_TASK_DEFINITIONS', () => {
  const proDefinition = 'arn:aws:ecs:us-east-1:123456789012:task-definition/dormouse-tenant-pro:2';

  it('reads the task definitions of the plans with an image of their own, and none when unset', () => {
    expect(
      loadReconcilerConfig({ ...reconcilerEnv, DORMOUSE_PLAN_TASK_DEFINITIONS: JSON.stringify({ pro: proDefinition }) }).ecs,
    ).toMatchObject({
      taskDefinition: 'dormouse-tenant:1',
      planTaskDefinitions: { pro: proDefinition },
    });
    expect(loadReconcilerConfig(reconcilerEnv).ecs.planTaskDefinitions).toEqual({});
  });

  it.each([
    ['not JSON', '{pro:', /DORMOUSE_PLAN_TASK_DEFINITIONS: is not valid JSON/],
    ['not an object of names', JSON.stringify({ pro: 7 }), /DORMOUSE_PLAN_TASK_DEFINITIONS: plan pro: /],
    [
      'naming a plan that is not configured',
      JSON.stringify({ gold: proDefinition }),
      /DORMOUSE_PLAN_TASK_DEFINITIONS: plan "gold" is not configured/,
    ],
  ])('stops start-up when it is %s, naming the setting', (_case, value, message) => {
    expect(() => loadReconcilerConfig({ ...reconcilerEnv, DORMOUSE_PLAN_TASK_DEFINITIONS: value })).toThrow(message);
  });
});
