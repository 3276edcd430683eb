import { describe, expect, it } from 'vitest';
import { MissCache } from '../../shared/app/miss-cache.js';
import { countWake, evictable, slugFromHost } from '../../shared/app/wake.js';
import { ConfigError, loadWakeConfig } from '../../shared/config.js';
import { builtInPlans } from '../../shared/domain/plans.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { prefersJson } from '../../shared/http/request.js';

describe('slugFromHost', () => {
  it.each([
    ['acme.trials.example.com', 'acme'],
    ['ACME.Trials.Example.COM', 'acme'],
    ['acme.trials.example.com:443', 'acme'],
    ['acme-corp.localhost:8080', undefined],
  ])('reads %s as %s', (host, slug) => {
    expect(slugFromHost(host, 'trials.example.com')).toBe(slug);
  });

  it('works for the embedded root domain, localhost', () => {
    expect(slugFromHost('acme.localhost:8080', 'localhost')).toBe('acme');
    expect(slugFromHost('localhost:8080', 'localhost')).toBeUndefined();
  });

  it('refuses a host longer than a DNS name can be, before looking at it', () => {
    const label = 'a'.repeat(40);
    expect(slugFromHost(`${label}.${'b'.repeat(250)}.example.com`, `${'b'.repeat(250)}.example.com`)).toBeUndefined();
  });
});

describe('prefersJson', () => {
  it.each<[string | undefined, boolean]>([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['application/json', true],
    ['application/json, text/plain, */*', true],
    ['Application/JSON; charset=utf-8', true],
    ['text/html;q=0.5, application/json', true],
    ['text/html, application/json', false],
    ['application/json;q=0', false],
    ['application/json;q=abc', false],
  ])('%j → %s', (accept, expected) => {
    expect(prefersJson(accept)).toBe(expected);
  });
});

describe('MissCache', () => {
  it('remembers a miss for its TTL and no longer', () => {
    const cache = new MissCache({ ttlMs: 1000 });
    cache.add('ghost', 0);

    expect(cache.has('ghost', 999)).toBe(true);
    expect(cache.has('ghost', 1000)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('keeps the expiry of the first miss however often it is asked, so staleness is bounded by the TTL', () => {
    const cache = new MissCache({ ttlMs: 1000 });
    cache.add('ghost', 0);
    for (let at = 100; at < 1000; at += 100) expect(cache.has('ghost', at)).toBe(true);

    expect(cache.has('ghost', 1000)).toBe(false);
  });

  it('forgets the least recently used key past its bound', () => {
    const cache = new MissCache({ ttlMs: 10_000, maxEntries: 3 });
    cache.add('a', 0);
    cache.add('b', 0);
    cache.add('c', 0);
    cache.has('a', 1); // a is now the most recently used

    cache.add('d', 2);

    expect(cache.size).toBe(3);
    expect(cache.has('b', 3)).toBe(false);
    expect(['a', 'c', 'd'].every((key) => cache.has(key, 3))).toBe(true);
  });
});

describe('evictable', () => {
  const now = new Date('2030-01-01T12:00:00Z');
  const base = newTenant({
    slug: 'acme',
    email: 'a@example.test',
    plan: 'trial',
    tokenHash: 'h',
    now: new Date('2029-12-31T00:00:00Z'),
    trialDays: 14,
  });
  const running = {
    ...base,
    status: { ...base.status, phase: 'Running' as const, slot: true, transitionAt: '2030-01-01T11:00:00Z' },
    lastActiveAt: '2030-01-01T11:00:00Z',
  };
  const fiveMinutes = 5 * 60_000;
  const plans = builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * 60_000, trialDays: 14 });

  it('takes a tenant running and idle past the minimum run time', () => {
    expect(evictable(running, now, fiveMinutes, plans)).toBe(true);
  });

  it.each([
    ['not running', { ...running, status: { ...running.status, phase: 'Provisioning' as const } }],
    ['asked to sleep already', { ...running, spec: { ...running.spec, desired: 'passivated' as const } }],
    ['holding no slot', { ...running, status: { ...running.status, slot: false } }],
    ['running for less than the minimum', { ...running, status: { ...running.status, transitionAt: '2030-01-01T11:56:00Z' } }],
    ['active within the minimum', { ...running, lastActiveAt: '2030-01-01T11:58:00Z' }],
    ['carrying an unreadable time', { ...running, lastActiveAt: 'yesterday' }],
    ['on a plan that never sleeps', { ...running, spec: { ...running.spec, plan: 'pro' } }],
    ['on a plan the configuration does not have', { ...running, spec: { ...running.spec, plan: 'retired' } }],
    [
      'inside its keep-warm hours',
      { ...running, spec: { ...running.spec, keepWarm: { timeZone: 'UTC', days: ['tue' as const], from: '11:00', to: '13:00' } } },
    ],
  ])('spares a tenant %s', (_, tenant) => {
    expect(evictable(tenant, now, fiveMinutes, plans)).toBe(false);
  });
});

describe('countWake', () => {
  const now = new Date('2030-03-01T12:00:00.000Z');
  const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000).toISOString();

  it('starts an hour at the first wake, counts within it, and refuses past the limit until it ends', () => {
    expect(countWake(undefined, now, 3)).toEqual({ since: now.toISOString(), count: 1 });
    expect(countWake({ since: minutesAgo(10), count: 2 }, now, 3)).toEqual({ since: minutesAgo(10), count: 3 });
    expect(countWake({ since: minutesAgo(10), count: 3 }, now, 3)).toEqual({ retryAfter: 50 * 60 });
    expect(countWake({ since: minutesAgo(60), count: 3 }, now, 3)).toEqual({ since: now.toISOString(), count: 1 });
  });

  it('starts a new hour rather than trusting a window that lies ahead or cannot be read', () => {
    expect(countWake({ since: minutesAgo(-30), count: 9 }, now, 3)).toEqual({ since: now.toISOString(), count: 1 });
    expect(countWake({ since: 'soon', count: 9 }, now, 3)).toEqual({ since: now.toISOString(), count: 1 });
  });
});

describe('loadWakeConfig', () => {
  const required = { DORMOUSE_TABLE_NAME: 'dormouse-tenants', DORMOUSE_BASE_URL: 'https://trials.example.com' };

  it('defaults to 90 routing slots and a 5-minute minimum run', () => {
    const config = loadWakeConfig(required);

    expect(config).toMatchObject({ tenantTable: 'dormouse-tenants', maxActiveTenants: 90, minRunMs: 5 * 60_000, anonymousWakesPerHour: 6 });
    expect(config.baseUrl.hostname).toBe('trials.example.com');
  });

  it('reads the slot count, the minimum run time and the wakes per hour', () => {
    expect(
      loadWakeConfig({
        ...required,
        DORMOUSE_MAX_ACTIVE_TENANTS: '40',
        DORMOUSE_MIN_RUN_MINUTES: '10',
        DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: '2',
      }),
    ).toMatchObject({ maxActiveTenants: 40, minRunMs: 10 * 60_000, anonymousWakesPerHour: 2 });
    expect(() => loadWakeConfig({ ...required, DORMOUSE_ANONYMOUS_WAKES_PER_HOUR: '0' })).toThrow(/DORMOUSE_ANONYMOUS_WAKES_PER_HOUR/);
  });

  it('names every missing or malformed variable', () => {
    const load = () =>
      loadWakeConfig({
        DORMOUSE_BASE_URL: 'https://trials.example.com/path',
        DORMOUSE_MAX_ACTIVE_TENANTS: '100',
        DORMOUSE_MIN_RUN_MINUTES: '0',
      });

    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/DORMOUSE_TABLE_NAME[\s\S]*DORMOUSE_BASE_URL[\s\S]*DORMOUSE_MAX_ACTIVE_TENANTS[\s\S]*DORMOUSE_MIN_RUN_MINUTES/);
  });
});
