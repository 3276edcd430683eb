import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiDepsWithArchives } from '../../shared/adapters/aws/composition/api.js';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { changeTenant } from '../../shared/app/change-tenant.js';
import { parsePlanCatalog } from '../../shared/config/plans.js';
import { hashToken } from '../../shared/app/tokens.js';
import type { UpdatableStore } from '../../shared/app/update-tenant.js';
import { planNamed, planRevision } from '../../shared/domain/plans.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import { createApiHandler, type ApiHandler } from '../../shared/http/api.js';
import { apiEvent, body, context } from '../support/api-events.js';
import { lambdaApiDeps } from '../support/api-lambda.js';

const OPS = 'arn:aws:iam::123456789012:user/ops';
const DAY_MS = 86_400_000;
const KEEP_WARM = { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' };

/** Public: trial (the default), team, community (no end); given by operators: pro (no end), pilot. */
const PLANS = [
  { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14, public: true },
  {
    name: 'team',
    cpu: 1024,
    memory: 2048,
    capacity: 'on-demand',
    sleepAfterMinutes: 60,
    trialDays: 30,
    public: true,
    image: 'public.ecr.aws/acme/team:1.4',
    environment: { EDITION: 'team' },
    keepWarm: KEEP_WARM,
  },
  { name: 'community', sleepAfterMinutes: 5, public: true },
  { name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', sleepAfterMinutes: 'never' },
  // Close to the environment limit for a plan (4 096 characters): a tenant's own must stay small.
  { name: 'pilot', trialDays: 60, environment: { P1: 'p'.repeat(1000), P2: 'p'.repeat(1000), P3: 'p'.repeat(1000), P4: 'p'.repeat(1000) } },
];

let handler: ApiHandler;
let deps: ApiDepsWithArchives;
let store: DynamoDbTenantStore;
/** The API's clock: the tests move it. */
let nowMs = Date.parse('2026-12-01T09:00:00.000Z');
const clock = { now: () => new Date(nowMs) };
const NOW = () => new Date(nowMs).toISOString();
let counter = 0;

beforeAll(async () => {
  deps = await lambdaApiDeps(
    { DORMOUSE_ADMIN_PRINCIPALS: OPS, DORMOUSE_SIGNUPS_PER_HOUR: '0', DORMOUSE_PLANS: JSON.stringify(PLANS) },
    { clock },
  );
  store = deps.store as DynamoDbTenantStore;
  handler = createApiHandler(deps);
});

const call = async (...args: Parameters<typeof apiEvent>) => {
  const response = await handler(apiEvent(...args), context());
  return { status: response.statusCode, headers: response.headers ?? {}, body: body(response) };
};
const patch = (id: string, changes: unknown, who: { iamUser?: string; token?: string } = { iamUser: OPS }) =>
  call('PATCH', `/admin/tenants/${id}`, { body: changes, ...who });

/** A new tenant signed up through the API, on `plan` (the default when absent). */
async function signUp(plan?: string): Promise<{ id: string; token: string }> {
  counter += 1;
  const slug = `plans${counter}`;
  const response = await call('POST', '/tenants', { body: { slug, email: `${slug}@example.test`, ...(plan ? { plan } : {}) } });
  expect(response.status).toBe(202);
  return { id: slug, token: response.body.token };
}
const stored = async (id: string) => (await store.get(id))!;
/** A direct write, standing for the reconciler, the sweep or another operator. */
const update = async (id: string, change: (tenant: Tenant) => Tenant) => store.save(change(await stored(id)));

describe('GET /plans', () => {
  it('lists the public plans to anyone: size, capacity, sleep policy, trial days and keep-warm hours, nothing else', async () => {
    const response = await call('GET', '/plans');

    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=60');
    expect(response.body).toEqual({
      plans: [
        { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14 },
        { name: 'team', cpu: 1024, memory: 2048, capacity: 'on-demand', sleepAfterMinutes: 60, trialDays: 30, keepWarm: KEEP_WARM },
        { name: 'community', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 5, trialDays: null },
      ],
    });
    expect(JSON.stringify(response.body)).not.toMatch(/public\.ecr\.aws|EDITION|pro|pilot/);
  });

  it('says "never" for a plan that never sleeps', async () => {
    const withPro = createApiHandler({
      ...deps,
      config: { ...deps.config, plans: { plans: deps.config.plans.plans.map((plan) => ({ ...plan, public: plan.name === 'pro' })) } },
    });

    const response = await withPro(apiEvent('GET', '/plans'), context());

    expect(body(response).plans).toEqual([
      { name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', sleepAfterMinutes: 'never', trialDays: null },
    ]);
  });
});

describe('POST /tenants with a plan', () => {
  it('gives a signup that names no plan the first public plan and its trial length', async () => {
    const { id } = await signUp();

    const tenant = await stored(id);
    expect(tenant.spec.plan).toBe('trial');
    expect(tenant.trialEndsAt).toBe(new Date(nowMs + 14 * DAY_MS).toISOString());
  });

  it('takes a public plan with its own trial length, or none', async () => {
    const team = await signUp('team');
    const community = await signUp('community');

    expect(await stored(team.id)).toMatchObject({ spec: { plan: 'team' }, trialEndsAt: new Date(nowMs + 30 * DAY_MS).toISOString() });
    expect((await stored(community.id)).spec.plan).toBe('community');
    expect(await stored(community.id)).not.toHaveProperty('trialEndsAt');
  });

  it.each(['pro', 'gold'])('refuses plan "%s" with 400 naming the plans that may be used, and records nothing', async (plan) => {
    const response = await call('POST', '/tenants', { body: { slug: `no-${plan}`, email: `no-${plan}@example.test`, plan } });

    expect(response.status).toBe(400);
    expect(response.body.error).toEqual({
      code: 'invalid_request',
      message: `Invalid signup: plan "${plan}" is not offered; choose one of: trial, team, community.`,
      fields: { plan: 'must be one of: trial, team, community' },
    });
    expect(await store.get(`no-${plan}`)).toBeUndefined();
  });

  it('refuses a plan that is not a string with 400 on the field', async () => {
    const response = await call('POST', '/tenants', { body: { slug: 'numbered', email: 'numbered@example.test', plan: 3 } });

    expect(response.status).toBe(400);
    expect(response.body.error.fields).toEqual({ plan: 'must be a string' });
  });

  it("starts a confirmed signup's trial with its plan's length, or with no end on a plan without one", async () => {
    const verify = async (plan: string) => {
      counter += 1;
      const slug = `verify${counter}`;
      const code = `code-${'x'.repeat(20)}-${counter}`;
      const signedUpAt = new Date(nowMs - 3_600_000);
      await store.create(
        newTenant({
          slug,
          email: `${slug}@example.test`,
          plan,
          tokenHash: 'h',
          now: signedUpAt,
          trialDays: 1,
          verificationCodeHash: hashToken(code),
        }),
        { maxTenants: 100 },
      );
      const event = apiEvent('GET', '/verify');
      event.queryStringParameters = { tenant: slug, code };
      expect((await handler(event, context())).statusCode).toBe(200);
      return stored(slug);
    };

    const team = await verify('team');
    const community = await verify('community');

    expect(team.trialEndsAt).toBe(new Date(nowMs + 30 * DAY_MS).toISOString());
    expect(community.status.phase).toBe('Pending');
    expect(community).not.toHaveProperty('trialEndsAt');
  });
});

describe('PATCH /tenants/{id}', () => {
  it('moves a trial to a plan with no trial length: a new generation, no end date, no expiring notice; answers the admin view', async () => {
    const { id } = await signUp();
    await update(id, (tenant) => ({ ...tenant, expiringNoticeAt: NOW() }));
    const before = await stored(id);

    const response = await patch(id, { plan: 'pro' });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id, plan: 'pro', generation: before.spec.generation + 1, email: `${id}@example.test` });
    expect(response.body.status).toMatchObject({ phase: 'Pending' });
    expect(response.body).not.toHaveProperty('trialEndsAt');
    const after = await stored(id);
    expect(after.spec).toEqual({ ...before.spec, plan: 'pro', generation: before.spec.generation + 1 });
    expect(after).not.toHaveProperty('trialEndsAt');
    expect(after).not.toHaveProperty('expiringNoticeAt');
  });

  it("starts a trial of the new plan's length for a tenant that had no end date", async () => {
    const { id } = await signUp('community');

    const response = await patch(id, { plan: 'pilot' });

    expect(response.status).toBe(200);
    expect(response.body.trialEndsAt).toBe(new Date(nowMs + 60 * DAY_MS).toISOString());
    expect((await stored(id)).spec.generation).toBe(2);
  });

  it('keeps the end date of a running trial moved to another plan with a trial length', async () => {
    const { id } = await signUp();
    const { trialEndsAt } = await stored(id);

    const response = await patch(id, { plan: 'pilot' });

    expect(response.body).toMatchObject({ plan: 'pilot', trialEndsAt });
  });

  it('accepts any configured plan, and refuses an unknown one with 400 naming them all', async () => {
    const { id } = await signUp();

    const unknown = await patch(id, { plan: 'gold' });

    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({
      message: 'There is no plan "gold"; the plans are: trial, team, community, pro, pilot.',
      fields: { plan: 'must be one of: trial, team, community, pro, pilot' },
    });
    expect((await stored(id)).spec.plan).toBe('trial');
  });

  it('writes nothing when the values are the ones the tenant has', async () => {
    const { id } = await signUp();
    await patch(id, { environment: { FEATURE: 'on' }, keepWarm: KEEP_WARM });
    const before = await stored(id);

    const response = await patch(id, {
      plan: 'trial',
      environment: { FEATURE: 'on' },
      keepWarm: KEEP_WARM,
      trialEndsAt: before.trialEndsAt,
    });

    expect(response.status).toBe(200);
    expect((await stored(id)).version).toBe(before.version);
  });

  it('extends or shortens a trial without a new generation, and clears the notice about the old end', async () => {
    const { id } = await signUp();
    await update(id, (tenant) => ({ ...tenant, expiringNoticeAt: NOW() }));
    const before = await stored(id);
    const later = new Date(nowMs + 40 * DAY_MS).toISOString();

    const extended = await patch(id, { trialEndsAt: later.replace('.000Z', 'Z') });
    const shortened = await patch(id, { trialEndsAt: '2026-12-02T10:00:00+01:00' });

    expect(extended.body.trialEndsAt).toBe(later);
    expect(shortened.body.trialEndsAt).toBe('2026-12-02T09:00:00.000Z');
    const after = await stored(id);
    expect(after.spec.generation).toBe(before.spec.generation);
    expect(after).not.toHaveProperty('expiringNoticeAt');
  });

  it('refuses a trial end on a plan with no trial length with 409, saying which plan', async () => {
    const { id } = await signUp('community');

    const response = await patch(id, { trialEndsAt: '2027-01-01T00:00:00Z' });
    const withMove = await patch(id, { plan: 'pro', trialEndsAt: '2027-01-01T00:00:00Z' });

    expect(response.status).toBe(409);
    expect(response.body.error).toMatchObject({
      code: 'no_trial_length',
      message: expect.stringContaining('Plan "community" has no trial length'),
      fields: { trialEndsAt: 'cannot be set on plan "community", which has no trial length' },
    });
    expect(withMove.status).toBe(409);
    expect(withMove.body.error.message).toContain('Plan "pro" has no trial length');
    expect((await stored(id)).spec.plan).toBe('community');
  });

  it('refuses a trial end in the past or not a time with 400', async () => {
    const { id } = await signUp();

    const past = await patch(id, { trialEndsAt: new Date(nowMs - 1000).toISOString() });
    const garbled = await patch(id, { trialEndsAt: 'next tuesday' });

    expect(past.status).toBe(400);
    expect(past.body.error.fields).toEqual({ trialEndsAt: 'must be in the future' });
    expect(garbled.status).toBe(400);
    expect(garbled.body.error.fields).toEqual({ trialEndsAt: 'must be an ISO 8601 time such as 2026-12-31T18:00:00Z' });
  });

  it("replaces the tenant's own environment with a new generation, and {} clears it", async () => {
    const { id } = await signUp();

    const set = await patch(id, { environment: { FEATURE_X: 'on', GREETING: 'Hello, world' } });
    const replaced = await patch(id, { environment: { FEATURE_X: 'off' } });
    const afterReplace = await stored(id);
    const cleared = await patch(id, { environment: {} });

    expect(set.body).toMatchObject({ generation: 2, environment: { FEATURE_X: 'on', GREETING: 'Hello, world' } });
    expect(replaced.body).toMatchObject({ generation: 3, environment: { FEATURE_X: 'off' } });
    expect(afterReplace.spec.environment).toEqual({ FEATURE_X: 'off' });
    expect(cleared.body.generation).toBe(4);
    expect(cleared.body).not.toHaveProperty('environment');
    expect((await stored(id)).spec).not.toHaveProperty('environment');
  });

  it('refuses a bad environment with 400 naming each variable, and writes nothing', async () => {
    const { id } = await signUp();
    const before = await stored(id);

    const response = await patch(id, { environment: { AWS_REGION: 'us-east-1', '1UP': 'x', OK: 'y'.repeat(1025), FINE: 'yes' } });
    const notStrings = await patch(id, { environment: { COUNT: 3 } });

    expect(response.status).toBe(400);
    expect(response.body.error.fields).toEqual({
      'environment.AWS_REGION': 'is set by Dormouse and cannot be replaced',
      'environment.1UP': 'is not a variable name (letters, digits and _, not starting with a digit)',
      'environment.OK': 'must be at most 1024 printable characters',
    });
    expect(notStrings.status).toBe(400);
    expect(Object.keys(notStrings.body.error.fields)).toEqual(['environment.COUNT']);
    expect((await stored(id)).version).toBe(before.version);
  });

  it("refuses an environment or a plan change whose plan's and tenant's environment together do not fit RunTask, with 400 naming the limit and the plan's share", async () => {
    // Prepare: 3 000 characters of its own fit beside trial's empty environment, not beside pilot's 4 000.
    const { id } = await signUp();
    const own = { T1: 't'.repeat(1000), T2: 't'.repeat(1000), T3: 't'.repeat(1000) };
    expect((await patch(id, { environment: own })).status).toBe(200);
    const before = await stored(id);
    const { id: onPilot } = await signUp();
    expect((await patch(onPilot, { plan: 'pilot' })).status).toBe(200);

    // Act
    const toPilot = await patch(id, { plan: 'pilot' });
    const tooMuch = await patch(onPilot, { environment: own });
    const small = await patch(onPilot, { environment: { T1: 't'.repeat(1000) } });
    // Characters outside ASCII take more than one byte: under 4 096 characters, over 6 144 bytes.
    const euros = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`E${index}`, '€'.repeat(100)]));
    const wide = await patch(id, { environment: euros });

    // Assess
    expect(toPilot.status).toBe(400);
    expect(toPilot.body.error.message).toMatch(/over the limit of 6144 bytes .* Plan "pilot" takes 4101 bytes of it\./);
    expect(toPilot.body.error.fields).toEqual({
      plan: 'plan and tenant environment together must be at most 6144 bytes; plan "pilot" takes 4101',
    });
    expect(tooMuch.status).toBe(400);
    expect(Object.keys(tooMuch.body.error.fields)).toEqual(['environment']);
    expect(small.status).toBe(200);
    expect(wide.status).toBe(400);
    expect(wide.body.error.fields).toEqual({ environment: "must fit 6144 bytes as RunTask's overrides carry it" });
    expect(() => parsePlanCatalog([{ name: 'euro', public: true, environment: euros }], 'DORMOUSE_PLANS')).toThrow(
      /plan "euro", environment: must fit 6144 bytes/,
    );
    expect((await stored(id)).version).toBe(before.version);
  });

  it("sets the tenant's own keep-warm hours without a new generation, and null clears them", async () => {
    const { id } = await signUp();

    const set = await patch(id, { keepWarm: KEEP_WARM });
    const stored1 = await stored(id);
    const cleared = await patch(id, { keepWarm: null });

    expect(set.body.keepWarm).toEqual(KEEP_WARM);
    expect(stored1.spec).toMatchObject({ keepWarm: KEEP_WARM, generation: 1 });
    expect(cleared.status).toBe(200);
    expect((await stored(id)).spec).not.toHaveProperty('keepWarm');
  });

  it('refuses bad keep-warm hours with 400 on the field', async () => {
    const { id } = await signUp();

    const response = await patch(id, { keepWarm: { ...KEEP_WARM, timeZone: 'Mars/Olympus', to: '25:00' } });

    expect(response.status).toBe(400);
    expect(response.body.error.fields).toEqual({
      'keepWarm.timeZone': 'must be an IANA time zone, such as Europe/Paris',
      'keepWarm.to': 'must be a time as HH:MM, 24-hour clock',
    });
  });

  it('refuses an empty change, an unknown field and a body that is not JSON with 400', async () => {
    const { id } = await signUp();

    const empty = await patch(id, {});
    const unknown = await patch(id, { plan: 'pro', desired: 'running' });
    const notJson = await handler({ ...apiEvent('PATCH', `/admin/tenants/${id}`, { iamUser: OPS }), body: 'plan=pro' }, context());

    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toBe('Invalid change: change needs at least one of: plan, trialEndsAt, environment, keepWarm.');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.fields).toEqual({ desired: 'is not a known field' });
    expect(notJson.statusCode).toBe(400);
    expect((await stored(id)).spec.plan).toBe('trial');
  });

  it('is for admins only: 401 without a credential, 403 with the tenant token', async () => {
    const { id, token } = await signUp();

    const anonymous = await call('PATCH', `/tenants/${id}`, { body: { plan: 'pro' } });
    const owner = await call('PATCH', `/tenants/${id}`, { body: { plan: 'pro' }, token });

    expect(anonymous.status).toBe(401);
    expect(owner.status).toBe(403);
    expect((await stored(id)).spec.plan).toBe('trial');
  });

  it('answers 404 for a tenant that does not exist', async () => {
    const response = await patch('nobody-here', { plan: 'pro' });

    expect(response.status).toBe(404);
    expect(response.body.error.message).toBe('There is no tenant "nobody-here".');
  });

  it('refuses a tenant that is being deleted, and one whose email is not confirmed, with 409', async () => {
    const { id } = await signUp();
    await update(id, (tenant) => withDesired(tenant, 'deleted'));
    await store.create(
      newTenant({
        slug: 'unconfirmed',
        email: 'unconfirmed@example.test',
        plan: 'trial',
        tokenHash: 'h',
        now: new Date(nowMs),
        trialDays: 14,
        verificationCodeHash: 'c',
      }),
      { maxTenants: 100 },
    );

    const deleting = await patch(id, { plan: 'pro' });
    const pending = await patch('unconfirmed', { plan: 'pro' });

    expect(deleting.status).toBe(409);
    expect(deleting.body.error).toEqual({ code: 'tenant_deleted', message: `Tenant "${id}" is being deleted and cannot be changed.` });
    expect(pending.status).toBe(409);
    expect(pending.body.error.code).toBe('verification_pending');
    expect((await stored(id)).spec.plan).toBe('trial');
  });

  it('never overwrites a concurrent writer: the change is decided again on a fresh read', async () => {
    const { id } = await signUp();
    const woken = new Date(nowMs + 5_000).toISOString();
    let raced = false;
    // Between the read and the write of the change, the task-events handler records activity.
    const racing: UpdatableStore = {
      get: (tenantId) => store.get(tenantId),
      save: async (tenant, options) => {
        if (!raced) {
          raced = true;
          await update(id, (current) => ({ ...current, lastActiveAt: woken, status: { ...current.status, phase: 'Running' } }));
        }
        return store.save(tenant, options);
      },
    };

    const changed = await changeTenant({ store: racing, clock, plans: deps.config.plans }, id, { plan: 'pro', environment: { A: '1' } });

    expect(raced).toBe(true);
    const after = await stored(id);
    expect(after).toMatchObject({
      lastActiveAt: woken,
      status: { phase: 'Running' },
      spec: { plan: 'pro', environment: { A: '1' }, generation: 2 },
    });
    expect(changed.version).toBe(after.version);
  });
});

describe('a tenant status with plans', () => {
  async function runningOn(id: string, revision: string) {
    await update(id, (tenant) => ({
      ...tenant,
      status: {
        ...tenant.status,
        phase: 'Running',
        observedGeneration: tenant.spec.generation,
        task: {
          arn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/abc',
          capacityProvider: 'FARGATE_SPOT',
          launchedAs: { plan: tenant.spec.plan, revision, environment: 'e' },
        },
      },
    }));
  }

  it('shows that a running task runs an older definition of its plan', async () => {
    const { id: current } = await signUp();
    const { id: older } = await signUp();
    const { id: none } = await signUp();
    await runningOn(current, planRevision(planNamed(deps.config.plans, 'trial')!));
    await runningOn(older, 'a1b2c3d4e5f6');

    const view = async (id: string) => (await call('GET', `/tenants/${id}`)).body;

    expect(await view(current)).toMatchObject({ plan: 'trial', planOutdated: false });
    expect(await view(older)).toMatchObject({ plan: 'trial', planOutdated: true });
    expect(await view(none)).not.toHaveProperty('planOutdated');
  });

  it('shows no trial end for a converted tenant, and no environment to anonymous visitors', async () => {
    const { id, token } = await signUp();
    await patch(id, { plan: 'pro', environment: { SECRETISH: 'value' } });

    const anonymous = await call('GET', `/tenants/${id}`);
    const owner = await call('GET', `/tenants/${id}`, { token });

    expect(anonymous.body).toMatchObject({ id, plan: 'pro' });
    expect(anonymous.body).not.toHaveProperty('trialEndsAt');
    expect(JSON.stringify(anonymous.body)).not.toContain('SECRETISH');
    expect(JSON.stringify(owner.body)).not.toContain('SECRETISH');
  });

  it("lists each tenant's plan, environment and keep-warm hours to admins", async () => {
    const { id } = await signUp('team');
    await patch(id, { environment: { FEATURE: 'on' }, keepWarm: KEEP_WARM });

    const response = await call('GET', '/admin/tenants', { iamUser: OPS });

    const item = response.body.items.find((entry: { id: string }) => entry.id === id);
    expect(item).toMatchObject({ plan: 'team', environment: { FEATURE: 'on' }, keepWarm: KEEP_WARM, email: `${id}@example.test` });
  });
});
