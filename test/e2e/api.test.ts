import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { TEST_ADMIN_TOKEN, startTestApi } from '../support/api-server.js';
import { apiClient } from '../support/http.js';

const ADMIN = TEST_ADMIN_TOKEN;

async function startApi(env: Record<string, string> = {}) {
  const { embedded, tables } = await startTestApi(env);
  return { embedded, tables, call: apiClient(embedded.apiUrl) };
}

let embedded: Embedded;
let tables: Awaited<ReturnType<typeof startApi>>['tables'];
let call: ReturnType<typeof apiClient>;
let counter = 0;
/** A fresh slug and email for each test, so tests do not depend on each other. */
const fresh = (prefix = 't') => {
  counter += 1;
  return { slug: `${prefix}${counter}-x`, email: `user${counter}@example.test` };
};

async function signUp(body = fresh()) {
  const response = await call('/tenants', { method: 'POST', body });
  expect(response.status).toBe(202);
  return response.body as { id: string; url: string; phase: string; desired: string; token: string };
}

async function listAll(query = ''): Promise<Array<{ id: string }>> {
  const response = await call(`/tenants?limit=100${query}`, { token: ADMIN });
  expect(response.status).toBe(200);
  return response.body.items;
}

beforeAll(async () => {
  ({ embedded, tables, call } = await startApi());
});
afterAll(async () => {
  await embedded?.stop();
});

describe('GET /healthz', () => {
  it('answers 200', async () => {
    const response = await call('/healthz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });
});

describe('POST /tenants', () => {
  it('records a tenant that wants to run and returns its URL and a one-time token', async () => {
    const response = await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'Ann@Acme.test' } });

    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe('/tenants/acme');
    expect(response.body).toEqual({
      id: 'acme',
      url: 'http://acme.localhost:8080',
      phase: 'Pending',
      desired: 'running',
      token: expect.stringMatching(/^dmt_[A-Za-z0-9_-]{43}$/),
    });
  });

  it('rejects a slug that is taken with 409', async () => {
    const first = fresh();
    await signUp(first);

    const response = await call('/tenants', { method: 'POST', body: { slug: first.slug, email: 'other@example.test' } });

    expect(response.status).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'slug_taken', fields: { slug: 'is already taken' } });
  });

  it('allows one live trial per email, whatever its case, with 429 and a plain sentence', async () => {
    const first = fresh();
    await signUp(first);

    const response = await call('/tenants', {
      method: 'POST',
      body: { slug: fresh().slug, email: first.email.toUpperCase() },
    });

    expect(response.status).toBe(429);
    expect(response.body.error.code).toBe('trial_exists');
    expect(response.body.error.message).toMatch(/already has a trial: one per address/);
  });

  it.each([
    ['too short', { slug: 'ab' }, 'slug', /3 to 40 characters/],
    ['too long', { slug: `a${'b'.repeat(40)}` }, 'slug', /3 to 40 characters/],
    ['uppercase', { slug: 'Acme-co' }, 'slug', /lowercase/],
    ['starting with a digit', { slug: '1acme' }, 'slug', /start with a letter/],
    ['ending with a hyphen', { slug: 'acme-' }, 'slug', /end with a hyphen/],
    ['with a dot', { slug: 'acme.co' }, 'slug', /lowercase letters, digits and hyphens/],
    ['reserved', { slug: 'www' }, 'slug', /reserved/],
    ['not a string', { slug: 42 }, 'slug', /must be a string/],
    ['missing', { slug: undefined }, 'slug', /is required/],
    ['an invalid email', { email: 'not-an-email' }, 'email', /email address/],
    ['a missing email', { email: undefined }, 'email', /is required/],
    ['an unknown plan', { plan: 'enterprise' }, 'plan', /must be one of: trial/],
    ['an unknown field', { admin: true }, 'admin', /not a known field/],
  ])('rejects %s with 400 naming the field, and records nothing', async (_, change, field, message) => {
    const body = { ...fresh('bad'), ...change };
    const before = await listAll();

    const response = await call('/tenants', { method: 'POST', body });

    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(response.body.error.fields[field]).toMatch(message);
    expect(await listAll()).toHaveLength(before.length);
  });

  it.each([
    ['malformed JSON', '{"slug": "acme"', /not valid JSON/],
    ['a JSON array', '[]', /Invalid signup/],
    ['an empty body', '', /empty/],
  ])('rejects %s with 400', async (_, rawBody, message) => {
    const response = await call('/tenants', { method: 'POST', rawBody, headers: { 'content-type': 'application/json' } });

    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(message);
  });

  it('rejects a body that is not JSON with 415', async () => {
    const response = await call('/tenants', {
      method: 'POST',
      rawBody: 'slug=acme',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

    expect(response.status).toBe(415);
    expect(response.body.error.code).toBe('unsupported_media_type');
  });

  it('rejects a body over 16 KiB with 413', async () => {
    const response = await call('/tenants', { method: 'POST', body: { ...fresh(), padding: 'x'.repeat(17 * 1024) } });

    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
  });

  it('lets exactly one of many concurrent signups for the same slug win', async () => {
    const { slug } = fresh('race');
    const attempts = Array.from({ length: 10 }, (_, i) =>
      call('/tenants', { method: 'POST', body: { slug, email: `racer${i}@slug.test` } }),
    );

    const statuses = (await Promise.all(attempts)).map((response) => response.status).sort();

    expect(statuses).toEqual([202, ...Array(9).fill(409)]);
  });

  it('lets exactly one of many concurrent signups with the same email win', async () => {
    const email = `same-${Date.now()}@email.test`;
    const attempts = Array.from({ length: 10 }, () => call('/tenants', { method: 'POST', body: { slug: fresh('mail').slug, email } }));

    const responses = await Promise.all(attempts);

    expect(responses.map((response) => response.status).sort()).toEqual([202, ...Array(9).fill(429)]);
    const winners = responses.filter((response) => response.status === 202).map((response) => response.body.id);
    const all = (await listAll()).map((tenant) => tenant.id);
    const losers = responses.filter((response) => response.status !== 202);
    expect(losers.every((response) => response.body.error.code === 'trial_exists')).toBe(true);
    expect(all.filter((id) => id.startsWith('mail'))).toEqual(winners);
  });
});

describe('POST /tenants with an Idempotency-Key', () => {
  it('returns the first response to a retried signup, token included, and creates one tenant', async () => {
    const body = fresh('idem');
    const headers = { 'idempotency-key': `signup-retry-${body.slug}` };

    const first = await call('/tenants', { method: 'POST', body, headers });
    const retry = await call('/tenants', { method: 'POST', body, headers });

    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    expect((await listAll()).filter((tenant) => tenant.id === body.slug)).toHaveLength(1);
  });

  it('refuses the same key with a different body with 422', async () => {
    const key = `reused-${Date.now()}`;
    await call('/tenants', { method: 'POST', body: fresh('idem'), headers: { 'idempotency-key': key } });

    const response = await call('/tenants', { method: 'POST', body: fresh('idem'), headers: { 'idempotency-key': key } });

    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('idempotency_key_reused');
  });

  it('does not cache a failure: a retry with the same key succeeds once the problem is gone', async () => {
    const { embedded: full, call: callFull } = await startApi({ DORMOUSE_MAX_TENANTS: '1' });
    try {
      const holder = fresh('idem');
      const { body: held } = await callFull('/tenants', { method: 'POST', body: holder });
      const request = { method: 'POST', body: fresh('idem'), headers: { 'idempotency-key': `fix-${holder.slug}-0123456789` } };

      const failed = await callFull('/tenants', request);
      await callFull(`/tenants/${holder.slug}`, { method: 'DELETE', token: held.token });
      const retried = await callFull('/tenants', request);

      expect(failed.status).toBe(429);
      expect(failed.body.error.code).toBe('capacity_reached');
      expect(retried.status).toBe(202);
    } finally {
      await full.stop();
    }
  });

  it.each([
    ['15 characters', 'x'.repeat(15)],
    ['129 characters', 'x'.repeat(129)],
    ['a space', `${'x'.repeat(10)} ${'x'.repeat(10)}`],
  ])('rejects a key of %s with 400', async (_what, key) => {
    const response = await call('/tenants', { method: 'POST', body: fresh(), headers: { 'idempotency-key': key } });

    expect(response.status).toBe(400);
    expect(response.body.error.fields).toEqual({ 'Idempotency-Key header': 'must be 16 to 128 visible ASCII characters' });
  });

  it('accepts keys of 16 and of 128 characters', async () => {
    for (const key of [`${'k'.repeat(15)}1`, `${'k'.repeat(127)}2`]) {
      const response = await call('/tenants', { method: 'POST', body: fresh(), headers: { 'idempotency-key': key } });
      expect(response.status).toBe(202);
    }
  });
});

describe('GET /tenants/{id}', () => {
  it('shows public status without the email or any token', async () => {
    const body = fresh();
    const { token } = await signUp(body);

    const response = await call(`/tenants/${body.slug}`);

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: body.slug, phase: 'Pending', desired: 'running', generation: 1 });
    const text = JSON.stringify(response.body);
    expect(text).not.toContain(body.email);
    expect(text).not.toContain(token);
    expect(text).not.toMatch(/tokenHash|email/);
  });

  it.each(['nobody-here', 'NOT-A-SLUG', '%E0%A4%A'])('answers 404 for %s', async (id) => {
    const response = await call(`/tenants/${id}`);

    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });
});

describe('GET /tenants/{id} of a tenant that failed', () => {
  const SECRET_ERROR =
    'The application exited with code 1. Check its logs (could not connect to postgres://app:S3cretPassw0rd@db:5432/app; ' +
    'AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/dormouse-Reconcile-1X2Y/fn is not authorized to perform: ecs:RunTask). ' +
    'Gave up after 4 attempts; wake the tenant to try again.';
  let failed: { slug: string; token: string };

  beforeAll(async () => {
    const body = fresh('f');
    const { token } = await signUp(body);
    // The record as the reconciler leaves it after giving up.
    const store = embedded.store;
    const tenant = (await store.get(body.slug))!;
    await store.save({
      ...tenant,
      status: {
        ...tenant.status,
        phase: 'Failed',
        failedGeneration: 1,
        attempts: 4,
        lastError: SECRET_ERROR,
        lastErrorCategory: 'stopped',
      },
    });
    failed = { slug: body.slug, token };
  });

  it('tells anonymous visitors what kind of failure it was, in a fixed sentence, and nothing of the error', async () => {
    const response = await call(`/tenants/${failed.slug}`);

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ phase: 'Failed', reason: 'The application stopped unexpectedly.' });
    expect(JSON.stringify(response.body)).not.toMatch(/S3cretPassw0rd|postgres|123456789012|arn:|AccessDenied/);
  });

  it("shows a token that is not this tenant's the same as anyone", async () => {
    const other = await signUp(fresh('o'));

    const response = await call(`/tenants/${failed.slug}`, { token: other.token });

    expect(response.body.reason).toBe('The application stopped unexpectedly.');
  });

  it('shows the token holder the detail without the password and without AWS identifiers', async () => {
    const response = await call(`/tenants/${failed.slug}`, { token: failed.token });

    expect(response.body.reason).toBe(
      'The application exited with code 1. Check its logs (could not connect to postgres://***@db:5432/app; ' +
        'AccessDeniedException: User: arn:*** is not authorized to perform: ecs:RunTask). Gave up after 4 attempts; wake the tenant to try again.',
    );
  });

  it('shows an admin the detail with AWS identifiers but without the password, in the status and in the list', async () => {
    const single = await call(`/tenants/${failed.slug}`, { token: ADMIN });
    const listed = (await call('/tenants?limit=100', { token: ADMIN })).body.items.find((item: { id: string }) => item.id === failed.slug);

    for (const text of [single.body.reason, listed.reason, listed.status.lastError]) {
      expect(text).toContain('postgres://***@db:5432/app');
      expect(text).toContain('arn:aws:sts::123456789012:assumed-role/dormouse-Reconcile-1X2Y/fn');
      expect(text).not.toContain('S3cretPassw0rd');
    }
  });
});

describe('POST /tenants/{id}/retry', () => {
  async function failedTenant() {
    const body = fresh('r');
    const { token } = await signUp(body);
    const store = embedded.store;
    const tenant = (await store.get(body.slug))!;
    // Given up on at its generation, as the reconciler leaves it.
    await store.save({ ...tenant, status: { ...tenant.status, phase: 'Failed', failedGeneration: tenant.spec.generation, attempts: 4 } });
    return { slug: body.slug, token, generation: tenant.spec.generation };
  }

  it('starts a failed tenant afresh for its token holder: a new generation of running', async () => {
    const failed = await failedTenant();

    const response = await call(`/tenants/${failed.slug}/retry`, { method: 'POST', token: failed.token });

    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ id: failed.slug, desired: 'running', generation: failed.generation + 1 });
  });

  it('refuses anyone but the token holder or an admin, and a tenant that has not failed', async () => {
    const failed = await failedTenant();
    const other = await signUp(fresh('o'));
    const healthy = await signUp(fresh('h'));

    expect((await call(`/tenants/${failed.slug}/retry`, { method: 'POST' })).status).toBe(401);
    expect((await call(`/tenants/${failed.slug}/retry`, { method: 'POST', token: other.token })).status).toBe(403);
    const notFailed = await call(`/tenants/${healthy.id}/retry`, { method: 'POST', token: healthy.token });
    expect(notFailed.status).toBe(409);
    expect(notFailed.body.error.code).toBe('not_failed');
    expect((await call(`/tenants/${failed.slug}/retry`, { method: 'POST', token: ADMIN })).status).toBe(202);
  });

  it('allows as many retries in an hour as visits may wake a sleeper, then says when to come back', async () => {
    const failed = await failedTenant();
    const store = embedded.store;
    const failAgain = async () => {
      const tenant = (await store.get(failed.slug))!;
      await store.save({ ...tenant, status: { ...tenant.status, phase: 'Failed', failedGeneration: tenant.spec.generation } });
    };

    for (let i = 0; i < 6; i += 1) {
      expect((await call(`/tenants/${failed.slug}/retry`, { method: 'POST', token: failed.token })).status).toBe(202);
      await failAgain();
    }
    const refused = await call(`/tenants/${failed.slug}/retry`, { method: 'POST', token: failed.token });

    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await store.get(failed.slug))!.status.phase).toBe('Failed');
  });
});

describe.each([
  ['DELETE', '', 'deleted'],
  ['POST', '/passivate', 'passivated'],
  ['POST', '/wake', 'running'],
])('%s /tenants/{id}%s', (method, suffix, desired) => {
  it(`sets expected state to ${desired} with the tenant's token and answers 202`, async () => {
    const body = fresh();
    const { token } = await signUp(body);
    // Wake only changes something for a tenant that was asked to sleep.
    if (desired === 'running') await call(`/tenants/${body.slug}/passivate`, { method: 'POST', token });

    const response = await call(`/tenants/${body.slug}${suffix}`, { method, token });

    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ id: body.slug, desired, generation: desired === 'running' ? 3 : 2 });
    expect((await call(`/tenants/${body.slug}`)).body.desired).toBe(desired);
  });

  it('is allowed to an admin', async () => {
    const body = fresh();
    await signUp(body);

    const response = await call(`/tenants/${body.slug}${suffix}`, { method, token: ADMIN });

    expect(response.status).toBe(202);
  });

  it('answers 401 without a credential and 401 for a malformed Authorization header', async () => {
    const body = fresh();
    await signUp(body);

    const anonymous = await call(`/tenants/${body.slug}${suffix}`, { method });
    const malformed = await call(`/tenants/${body.slug}${suffix}`, { method, headers: { authorization: 'Basic abc' } });

    expect(anonymous.status).toBe(401);
    expect(malformed.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
  });

  it("answers 403 with another tenant's token and changes nothing", async () => {
    const victim = fresh();
    await signUp(victim);
    const { token: otherToken } = await signUp();

    const response = await call(`/tenants/${victim.slug}${suffix}`, { method, token: otherToken });

    expect(response.status).toBe(403);
    expect((await call(`/tenants/${victim.slug}`)).body).toMatchObject({ desired: 'running', generation: 1 });
  });

  it('answers 404 for an unknown tenant', async () => {
    const response = await call(`/tenants/nobody-home${suffix}`, { method, token: ADMIN });

    expect(response.status).toBe(404);
  });
});

describe('changing expected state', () => {
  it('does not bump the generation when the tenant already wants that state', async () => {
    const body = fresh();
    const { token } = await signUp(body);

    await call(`/tenants/${body.slug}`, { method: 'DELETE', token });
    const again = await call(`/tenants/${body.slug}`, { method: 'DELETE', token });

    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ desired: 'deleted', generation: 2 });
  });

  it('refuses to wake or passivate a tenant that is being deleted with 409', async () => {
    const body = fresh();
    const { token } = await signUp(body);
    await call(`/tenants/${body.slug}`, { method: 'DELETE', token });

    const wake = await call(`/tenants/${body.slug}/wake`, { method: 'POST', token });
    const passivate = await call(`/tenants/${body.slug}/passivate`, { method: 'POST', token });

    expect([wake.status, passivate.status]).toEqual([409, 409]);
    expect(wake.body.error.code).toBe('tenant_deleted');
  });

  it('keeps the email and the slug once deletion is requested: deleting gives no fresh trial', async () => {
    const body = fresh();
    const { token } = await signUp(body);
    await call(`/tenants/${body.slug}`, { method: 'DELETE', token });

    const newSlug = await call('/tenants', { method: 'POST', body: { slug: fresh().slug, email: body.email } });
    const sameSlug = await call('/tenants', { method: 'POST', body: { slug: body.slug, email: fresh().email } });

    expect(newSlug.status).toBe(429);
    expect(newSlug.body.error.code).toBe('trial_exists');
    expect(sameSlug.status).toBe(409);
  });

  it('keeps both of two concurrent changes: the later write is retried from a fresh read', async () => {
    const body = fresh();
    const { token } = await signUp(body);

    const responses = await Promise.all([
      call(`/tenants/${body.slug}/passivate`, { method: 'POST', token }),
      call(`/tenants/${body.slug}`, { method: 'DELETE', token }),
    ]);

    expect(responses.map((response) => response.status)).toEqual([expect.any(Number), 202]);
    const final = (await call(`/tenants/${body.slug}`)).body;
    // Whichever order they landed in, no write was lost: every change bumped the generation.
    const changes = responses.filter((response) => response.status === 202).length;
    expect(final.generation).toBe(1 + changes);
    expect(final.desired).toBe('deleted');
  });
});

describe('GET /tenants (admin)', () => {
  it('answers 401 without a credential and 403 with a tenant token', async () => {
    const { token } = await signUp();

    expect((await call('/tenants')).status).toBe(401);
    expect((await call('/tenants', { token })).status).toBe(403);
    expect((await call('/admin/tenants', { token })).status).toBe(403);
  });

  it('pages through every tenant exactly once, with the email and status for admins', async () => {
    const { embedded: own, call: ownCall } = await startApi();
    try {
      const slugs = [];
      for (let i = 0; i < 7; i++) {
        const body = fresh('page');
        slugs.push(body.slug);
        expect((await ownCall('/tenants', { method: 'POST', body })).status).toBe(202);
      }

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const response = await ownCall(`/tenants?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: ADMIN });
        expect(response.status).toBe(200);
        expect(response.body.items.length).toBeLessThanOrEqual(3);
        expect(response.body.items[0]).toHaveProperty('email');
        seen.push(...response.body.items.map((item: { id: string }) => item.id));
        cursor = response.body.cursor;
        pages += 1;
      } while (cursor && pages < 10);

      expect(seen.sort()).toEqual(slugs.sort());
      expect(pages).toBeGreaterThanOrEqual(3);
    } finally {
      await own.stop();
    }
  });

  it('filters by phase', async () => {
    const pending = await listAll('&phase=Pending');
    const running = await listAll('&phase=Running');

    expect(pending.length).toBeGreaterThan(0);
    expect(pending.every((tenant) => (tenant as unknown as { phase: string }).phase === 'Pending')).toBe(true);
    expect(running).toEqual([]);
  });

  it('serves the same listing under /admin, where the IAM authorizer guards it on AWS', async () => {
    const response = await call('/admin/tenants?limit=1', { token: ADMIN });

    expect(response.status).toBe(200);
    expect(response.body.items).toHaveLength(1);
  });

  it.each([
    ['phase=Sleeping', 'phase', /must be one of/],
    ['limit=0', 'limit', /1 to 100/],
    ['limit=many', 'limit', /1 to 100/],
    ['limit=101', 'limit', /1 to 100/],
    ['cursor=not-a-cursor', 'cursor', /not valid/],
    ['colour=blue', 'colour', /not a known field/],
  ])('rejects ?%s with 400', async (query, field, message) => {
    const response = await call(`/tenants?${query}`, { token: ADMIN });

    expect(response.status).toBe(400);
    expect(response.body.error.fields[field]).toMatch(message);
  });
});

describe('the tenant ceiling', () => {
  it('answers 429 with a plain sentence once the configured number of live tenants exists', async () => {
    const { embedded: small, call: smallCall } = await startApi({ DORMOUSE_MAX_TENANTS: '2' });
    try {
      const first = fresh();
      for (const body of [first, fresh()]) {
        expect((await smallCall('/tenants', { method: 'POST', body })).status).toBe(202);
      }

      const full = await smallCall('/tenants', { method: 'POST', body: fresh() });
      expect(full.status).toBe(429);
      expect(full.body.error).toMatchObject({ code: 'capacity_reached', message: expect.stringMatching(/try again later/) });

      await smallCall(`/tenants/${first.slug}`, { method: 'DELETE', token: ADMIN });
      expect((await smallCall('/tenants', { method: 'POST', body: fresh() })).status).toBe(202);
    } finally {
      await small.stop();
    }
  });
});

describe('routing', () => {
  it('answers 404 JSON for an unknown route', async () => {
    const response = await call('/nowhere');

    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });

  it('answers 405 with Allow for a known route and the wrong method', async () => {
    const response = await call('/tenants/acme', { method: 'PUT', token: ADMIN });

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, PATCH, DELETE');
  });
});

describe('plans over HTTP in embedded mode', () => {
  const EXAMPLE_PLANS = new URL('../../examples/plans.json', import.meta.url).pathname;
  let builtIn: Awaited<ReturnType<typeof startApi>>;
  let example: Awaited<ReturnType<typeof startApi>>;
  beforeAll(async () => {
    [builtIn, example] = await Promise.all([startApi({ DORMOUSE_IDLE_SECONDS: '90' }), startApi({ DORMOUSE_PLANS: EXAMPLE_PLANS })]);
  });
  afterAll(async () => {
    await Promise.all([builtIn?.embedded.stop(), example?.embedded.stop()]);
  });

  it('lists the plans the tenants run on: the built-in trial sleeps after DORMOUSE_IDLE_SECONDS', async () => {
    const response = await builtIn.call('/plans');

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=60');
    expect(response.body).toEqual({
      plans: [{ name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 1.5, trialDays: 14 }],
    });
  });

  it('lists the public plans of DORMOUSE_PLANS and signs up for one of them', async () => {
    const plans = await example.call('/plans');
    const signup = await example.call('/tenants', {
      method: 'POST',
      body: { slug: 'teamco', email: 'ann@teamco.test', plan: 'team-trial' },
    });
    const status = await example.call('/tenants/teamco');

    expect(plans.body.plans.map((plan: { name: string }) => plan.name)).toEqual(['trial', 'team-trial']);
    expect(signup.status).toBe(202);
    expect(status.body).toMatchObject({ plan: 'team-trial', trialEndsAt: expect.any(String) });
    const days = (Date.parse(status.body.trialEndsAt) - Date.parse(status.body.createdAt)) / 86_400_000;
    expect(days).toBe(30);
  });

  it('refuses a plan that is not offered at signup with 400 naming the ones that are', async () => {
    const response = await example.call('/tenants', { method: 'POST', body: { slug: 'sneaky', email: 'eve@sneaky.test', plan: 'pro' } });

    expect(response.status).toBe(400);
    expect(response.body.error.fields).toEqual({ plan: 'must be one of: trial, team-trial' });
  });

  it('converts a trial with PATCH: the admin moves it to pro and it no longer has an end date', async () => {
    await example.call('/tenants', { method: 'POST', body: { slug: 'convertme', email: 'bob@convertme.test' } });

    const refused = await example.call('/tenants/convertme', { method: 'PATCH', body: { plan: 'pro' } });
    const changed = await example.call('/tenants/convertme', { method: 'PATCH', body: { plan: 'pro' }, token: ADMIN });
    const status = await example.call('/tenants/convertme');

    expect(refused.status).toBe(401);
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: 'convertme', plan: 'pro', generation: 2, email: 'bob@convertme.test' });
    expect(status.body).toMatchObject({ plan: 'pro', generation: 2 });
    expect(status.body).not.toHaveProperty('trialEndsAt');
  });
});
