import { randomBytes } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { localDynamoDbClient } from '../../shared/adapters/local/dynamodb-local.js';
import { MissCache } from '../../shared/app/miss-cache.js';
import { DEFAULT_ANONYMOUS_WAKES_PER_HOUR, wake, type WakeDeps } from '../../shared/app/wake.js';
import type { ErrorCategory } from '../../shared/domain/error-categories.js';
import { builtInPlans, type KeepWarm } from '../../shared/domain/plans.js';
import { newTenant, type Desired, type Phase, type Tenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';

const ROOT = 'trials.example.com';
const NOW = new Date('2030-03-01T12:00:00.000Z');
const MINUTE = 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

interface Shape {
  phase?: Phase;
  desired?: Desired;
  /** Holds a routing slot; taken through the store so the slot counter agrees. */
  slot?: boolean;
  transitionAt?: string;
  lastActiveAt?: string;
  queuedAt?: string;
  lastError?: string;
  lastErrorCategory?: ErrorCategory;
  trialEndsAt?: string;
  plan?: string;
  keepWarm?: KeepWarm;
  /** The routing shard it is placed on (its slot, if any, is taken there). */
  shard?: number;
}

/**
 * A wake use case over its own tables in DynamoDB Local, a clock that only moves when told,
 * and a store that counts every call made through it (reads and writes alike).
 */
async function createWorld(
  settings: { maxActiveTenants?: number; minRunMs?: number; anonymousWakesPerHour?: number; shards?: number } = {},
) {
  const tables = await createTestTables();
  const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const calls: string[] = [];
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return value.apply(target, args);
      };
    },
  });
  let now = NOW;
  const deps: WakeDeps = {
    store: counted,
    clock: { now: () => now },
    settings: {
      rootDomain: ROOT,
      maxActiveTenants: settings.maxActiveTenants ?? 90,
      minRunMs: settings.minRunMs ?? 5 * MINUTE,
      plans: builtInPlans({ cpu: 256, memory: 512, idleMs: 15 * MINUTE, trialDays: 14 }),
      ...(settings.anonymousWakesPerHour ? { anonymousWakesPerHour: settings.anonymousWakesPerHour } : {}),
      ...(settings.shards ? { shards: settings.shards } : {}),
    },
    unknownTenants: new MissCache({ ttlMs: 30_000, maxEntries: 100 }),
  };

  async function put(slug: string, shape: Shape = {}): Promise<Tenant> {
    const created = await store.create(
      newTenant({
        slug,
        email: `${slug}@example.test`,
        plan: 'trial',
        tokenHash: 'hash',
        now: new Date(NOW.getTime() - 86_400_000),
        trialDays: 14,
      }),
      { maxTenants: 1000 },
    );
    const { slot = false, phase = 'Running', desired = 'running', ...rest } = shape;
    const shaped: Tenant = {
      ...created,
      spec: { ...created.spec, desired, ...(rest.plan ? { plan: rest.plan } : {}), ...(rest.keepWarm ? { keepWarm: rest.keepWarm } : {}) },
      status: {
        ...created.status,
        phase,
        slot,
        transitionAt: rest.transitionAt ?? ago(60 * MINUTE),
        ...(rest.queuedAt ? { queuedAt: rest.queuedAt } : {}),
        ...(rest.lastError ? { lastError: rest.lastError } : {}),
        ...(rest.lastErrorCategory ? { lastErrorCategory: rest.lastErrorCategory } : {}),
        ...(rest.shard !== undefined ? { shard: rest.shard } : {}),
      },
      lastActiveAt: rest.lastActiveAt ?? ago(60 * MINUTE),
      ...(rest.trialEndsAt ? { trialEndsAt: rest.trialEndsAt } : {}),
    };
    return store.save(shaped, slot ? { routingSlot: { claim: true, maxActiveTenants: 99, shard: rest.shard ?? 0 } } : {});
  }

  return {
    tables,
    store,
    calls,
    deps,
    put,
    advance: (ms: number) => {
      now = new Date(now.getTime() + ms);
    },
    visit: (host: string | undefined, acceptsJson = false) => wake(deps, { host, acceptsJson }),
    writes: () => calls.filter((call) => call === 'save' || call === 'create'),
  };
}

type World = Awaited<ReturnType<typeof createWorld>>;

describe('wake', () => {
  let world: World;
  let counter = 0;
  /** A fresh slug per test, so the shared tables carry no state from one test to the next. */
  const fresh = (prefix: string) => `${prefix}-${++counter}`;

  beforeAll(async () => {
    world = await createWorld();
  });

  describe('for every phase', () => {
    it.each<[string, Shape, { status: number; kind: string; retryAfter?: number; writes: boolean }]>([
      ['pending', { phase: 'Pending' }, { status: 503, kind: 'waking', retryAfter: 5, writes: false }],
      ['provisioning', { phase: 'Provisioning', slot: true }, { status: 503, kind: 'waking', retryAfter: 5, writes: false }],
      ['waking', { phase: 'Waking', slot: true }, { status: 503, kind: 'waking', retryAfter: 5, writes: false }],
      ['running, its rule not there yet', { phase: 'Running', slot: true }, { status: 503, kind: 'waking', retryAfter: 5, writes: false }],
      ['queued', { phase: 'Queued', queuedAt: ago(MINUTE) }, { status: 503, kind: 'waking', retryAfter: 15, writes: false }],
      ['passivated', { phase: 'Passivated', desired: 'passivated' }, { status: 503, kind: 'waking', retryAfter: 5, writes: true }],
      [
        'passivating',
        { phase: 'Passivating', desired: 'passivated', slot: true },
        { status: 503, kind: 'waking', retryAfter: 5, writes: true },
      ],
      [
        'running but asked to sleep',
        { phase: 'Running', desired: 'passivated', slot: true },
        { status: 503, kind: 'waking', retryAfter: 5, writes: true },
      ],
      [
        'passivated and already asked to run',
        { phase: 'Passivated', desired: 'running' },
        { status: 503, kind: 'waking', retryAfter: 5, writes: false },
      ],
      [
        'failed',
        { phase: 'Failed', lastError: 'The application exited with code 1 three times in a row.' },
        { status: 503, kind: 'failed', retryAfter: 60, writes: false },
      ],
      ['deleting', { phase: 'Deleting', desired: 'deleted' }, { status: 410, kind: 'gone', writes: false }],
      ['deleted', { phase: 'Deleted', desired: 'deleted' }, { status: 410, kind: 'gone', writes: false }],
      [
        'running but asked to be deleted',
        { phase: 'Running', desired: 'deleted', slot: true },
        { status: 410, kind: 'gone', writes: false },
      ],
      [
        'passivated with its trial over',
        { phase: 'Passivated', desired: 'passivated', trialEndsAt: ago(MINUTE) },
        { status: 410, kind: 'gone', writes: false },
      ],
    ])('answers a tenant that is %s', async (_, shape, expected) => {
      const slug = fresh('phase');
      const before = await world.put(slug, shape);
      world.calls.length = 0;

      const answer = await world.visit(`${slug}.${ROOT}`);

      expect(answer).toMatchObject({
        status: expected.status,
        kind: expected.kind,
        tenant: slug,
        phase: before.status.phase,
        format: 'html',
      });
      expect(answer.retryAfter).toBe(expected.retryAfter);
      expect(world.calls.filter((call) => call === 'get')).toEqual(['get']);
      const after = (await world.store.get(slug))!;
      if (expected.writes) {
        expect(after.spec).toMatchObject({ desired: 'running', generation: before.spec.generation + 1 });
        expect(after.version).toBe(before.version + 1);
      } else {
        expect(world.writes()).toEqual([]);
        expect(after.version).toBe(before.version);
      }
    });
  });

  it('answers 404 for a signup whose email is not confirmed, writes nothing, and does not remember it as unknown', async () => {
    const slug = fresh('unconfirmed');
    const waiting = await world.store.create(
      newTenant({
        slug,
        email: `${slug}@example.test`,
        plan: 'trial',
        tokenHash: 'hash',
        now: NOW,
        trialDays: 14,
        verificationCodeHash: 'code',
      }),
      { maxTenants: 1000 },
    );
    world.calls.length = 0;

    const answer = await world.visit(`${slug}.${ROOT}`);
    await world.store.save({ ...waiting, status: { ...waiting.status, phase: 'Pending' } });
    const afterConfirmation = await world.visit(`${slug}.${ROOT}`);

    expect(answer).toMatchObject({ status: 404, kind: 'unknown', tenant: slug });
    expect(afterConfirmation).toMatchObject({ status: 503, kind: 'waking' });
    expect(world.writes()).toEqual([]);
  });

  it('asks a sleeping tenant to run once: the next request, while it wakes, writes nothing', async () => {
    const slug = fresh('sleeper');
    await world.put(slug, { phase: 'Passivated', desired: 'passivated' });

    await world.visit(`${slug}.${ROOT}`);
    const woken = (await world.store.get(slug))!;
    world.calls.length = 0;
    const again = await world.visit(`${slug}.${ROOT}`);

    expect(again).toMatchObject({ status: 503, kind: 'waking', retryAfter: 5 });
    expect(world.calls).toEqual(['get']);
    expect((await world.store.get(slug))!.version).toBe(woken.version);
  });

  it('does not overwrite a change made between its read and its write; it decides again from the fresh record', async () => {
    const slug = fresh('race');
    await world.put(slug, { phase: 'Passivated', desired: 'passivated' });
    // Another writer (here: a delete) lands after the wake read the record.
    const racing: WakeDeps = {
      ...world.deps,
      store: {
        ...world.deps.store,
        get: world.deps.store.get.bind(world.deps.store),
        save: async (tenant) => {
          const current = (await world.store.get(slug))!;
          await world.store.save({ ...current, spec: { ...current.spec, desired: 'deleted', generation: current.spec.generation + 1 } });
          return world.store.save(tenant);
        },
        countQueuedBefore: world.deps.store.countQueuedBefore.bind(world.deps.store),
        countRoutingSlots: world.deps.store.countRoutingSlots.bind(world.deps.store),
        listActive: world.deps.store.listActive.bind(world.deps.store),
      },
    };

    const answer = await wake(racing, { host: `${slug}.${ROOT}`, acceptsJson: false });

    expect(answer).toMatchObject({ status: 410, kind: 'gone' });
    expect((await world.store.get(slug))!.spec.desired).toBe('deleted');
  });

  it('tells a queued tenant its place in line, and nothing about the others', async () => {
    const queue = await createWorld();
    await queue.put('first', { phase: 'Queued', queuedAt: ago(3 * MINUTE) });
    await queue.put('second', { phase: 'Queued', queuedAt: ago(2 * MINUTE) });
    await queue.put('third', { phase: 'Queued', queuedAt: ago(MINUTE) });

    const answer = await queue.visit(`third.${ROOT}`, true);

    expect(answer).toEqual({
      status: 503,
      kind: 'waking',
      format: 'json',
      tenant: 'third',
      phase: 'Queued',
      retryAfter: 15,
      position: 3,
      step: 'asked',
    });
    expect(queue.writes()).toEqual([]);
  });

  it('gives a failed tenant a fixed sentence for its kind of failure, never the error, and a generic one when none was recorded', async () => {
    const crashed = fresh('failed');
    const denied = fresh('failed');
    const uncategorised = fresh('failed');
    const without = fresh('failed');
    const leaky = 'could not connect to postgres://app:S3cretPassw0rd@db:5432/app (arn:aws:iam::123456789012:role/dormouse)';
    await world.put(crashed, { phase: 'Failed', lastError: `The application exited with code 1: ${leaky}.`, lastErrorCategory: 'stopped' });
    await world.put(denied, {
      phase: 'Failed',
      lastError: `Dormouse is not allowed to start tasks: ${leaky}.`,
      lastErrorCategory: 'platform',
    });
    await world.put(uncategorised, { phase: 'Failed', lastError: leaky });
    await world.put(without, { phase: 'Failed' });

    expect(await world.visit(`${crashed}.${ROOT}`)).toMatchObject({ status: 503, reason: 'The application stopped unexpectedly.' });
    expect(await world.visit(`${denied}.${ROOT}`)).toMatchObject({ status: 503, reason: 'The hosting platform could not start it.' });
    expect(await world.visit(`${uncategorised}.${ROOT}`)).toMatchObject({ status: 503, reason: 'The application did not start.' });
    expect(await world.visit(`${without}.${ROOT}`)).toMatchObject({ status: 503, reason: 'It could not be started.' });
  });

  it('answers JSON when the request asked for it, HTML otherwise', async () => {
    const slug = fresh('format');
    await world.put(slug, { phase: 'Provisioning' });

    expect(await world.visit(`${slug}.${ROOT}`, true)).toMatchObject({ format: 'json' });
    expect(await world.visit(`${slug}.${ROOT}`, false)).toMatchObject({ format: 'html' });
  });

  describe('unknown tenants', () => {
    it('answers 404 and remembers the miss: a second request within the TTL costs no read', async () => {
      const slug = fresh('nobody');
      world.calls.length = 0;

      const first = await world.visit(`${slug}.${ROOT}`);
      const second = await world.visit(`${slug}.${ROOT}`);

      expect(first).toEqual({ status: 404, kind: 'unknown', format: 'html', tenant: slug });
      expect(second).toEqual(first);
      expect(world.calls).toEqual(['get']);
    });

    it('reads again once the TTL has passed, and then finds a tenant that signed up meanwhile', async () => {
      const local = await createWorld();
      await local.visit(`late.${ROOT}`);
      await local.put('late', { phase: 'Pending' });

      const stale = await local.visit(`late.${ROOT}`);
      local.advance(30_001);
      const fresh = await local.visit(`late.${ROOT}`);

      expect(stale.status).toBe(404);
      expect(fresh).toMatchObject({ status: 503, kind: 'waking', phase: 'Pending' });
    });
  });

  describe('the cost of a flood of random hosts', () => {
    it('reads each unknown slug once, eventually consistently, answers repeats from memory, and never reads for other hosts', async () => {
      // Prepare: the wake over a client of its own that records every GetItem sent to DynamoDB.
      const local = await createWorld();
      const reads: Array<{ ConsistentRead?: boolean }> = [];
      const client = localDynamoDbClient(local.tables.endpoint);
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'GetItemCommand') reads.push(args.input as { ConsistentRead?: boolean });
          return next(args);
        },
        { step: 'initialize', name: 'countReads' },
      );
      const store = new DynamoDbTenantStore({ tableName: local.tables.tenantTable, client: DynamoDBDocumentClient.from(client) });
      const deps: WakeDeps = { ...local.deps, store, unknownTenants: new MissCache({ ttlMs: 30_000, maxEntries: 10_000 }) };
      const randomSlugs = Array.from({ length: 1000 }, () => `x${randomBytes(6).toString('hex')}`);
      const visit = (host: string) => wake(deps, { host, acceptsJson: false });

      // Act
      for (const slug of randomSlugs) await visit(`${slug}.${ROOT}`);
      const firstPass = reads.length;
      for (const slug of randomSlugs) await visit(`${slug}.${ROOT}`);
      const secondPass = reads.length - firstPass;
      for (const slug of randomSlugs) {
        await visit(`${slug}.example.org`);
        await visit(`${slug}.x.${ROOT}`);
        await visit(`-${slug}.${ROOT}`);
      }
      const otherHosts = reads.length - firstPass - secondPass;

      // Assess: 1 000 random tenant hosts cost 1 000 reads of half a read unit each, once per 30 s.
      expect(firstPass).toBe(1000);
      expect(reads.every((read) => read.ConsistentRead === false)).toBe(true);
      expect(secondPass).toBe(0);
      expect(otherHosts).toBe(0);
      client.destroy();
    }, 60_000);
  });

  describe('anonymous wakes', () => {
    /** Puts a woken tenant back to sleep, as the sweep would once it went idle. */
    async function passivate(local: World, slug: string): Promise<void> {
      const current = (await local.store.get(slug))!;
      await local.store.save({
        ...current,
        spec: { ...current.spec, desired: 'passivated', generation: current.spec.generation + 1 },
        status: { ...current.status, phase: 'Passivated' },
      });
    }

    it(`wakes a tenant at most ${DEFAULT_ANONYMOUS_WAKES_PER_HOUR} times an hour, then says it rests until the hour is over`, async () => {
      // Prepare
      const local = await createWorld();
      await local.put('sleeper', { phase: 'Passivated', desired: 'passivated' });

      // Act: wake, sleep, wake, … every five minutes.
      const answers = [];
      for (let wakes = 0; wakes <= DEFAULT_ANONYMOUS_WAKES_PER_HOUR; wakes++) {
        answers.push(await local.visit(`sleeper.${ROOT}`));
        await passivate(local, 'sleeper');
        local.advance(5 * MINUTE);
      }
      const writesWhileResting = local.writes().length;
      const resting = await local.visit(`sleeper.${ROOT}`, true);
      const writesOfResting = local.writes().length - writesWhileResting;
      local.advance(25 * MINUTE);
      const nextHour = await local.visit(`sleeper.${ROOT}`);

      // Assess
      expect(answers.slice(0, DEFAULT_ANONYMOUS_WAKES_PER_HOUR).map((answer) => answer.kind)).toEqual(
        Array(DEFAULT_ANONYMOUS_WAKES_PER_HOUR).fill('waking'),
      );
      expect(answers.at(-1)).toMatchObject({ status: 503, kind: 'resting', retryAfter: 30 * 60 });
      expect(resting).toMatchObject({ status: 503, kind: 'resting', format: 'json', retryAfter: 25 * 60, phase: 'Passivated' });
      expect(writesOfResting).toBe(0);
      expect(nextHour).toMatchObject({ status: 503, kind: 'waking' });
      const record = (await local.store.get('sleeper'))!;
      expect(record.spec.desired).toBe('running');
      expect(record.anonymousWakes).toEqual({ since: new Date(NOW.getTime() + 60 * MINUTE).toISOString(), count: 1 });
    });

    it('takes its limit from the settings', async () => {
      const local = await createWorld({ anonymousWakesPerHour: 1 });
      await local.put('once', { phase: 'Passivated', desired: 'passivated' });

      const first = await local.visit(`once.${ROOT}`);
      await passivate(local, 'once');
      const second = await local.visit(`once.${ROOT}`);

      expect(first.kind).toBe('waking');
      expect(second).toMatchObject({ kind: 'resting', retryAfter: 3600 });
    });
  });

  describe('hostile or malformed Host headers', () => {
    const hostile: Array<[string, string | undefined]> = [
      ['missing', undefined],
      ['empty', ''],
      ['too long', `${'a'.repeat(250)}.${ROOT}`],
      ['a label too long for a slug', `${'a'.repeat(41)}.${ROOT}`],
      ['unicode', `ácme.${ROOT}`],
      ['an IDN in punycode', `xn--cme-9ma.${ROOT}`],
      ['a Kelvin sign that lowercases to k', `\u212Acme.${ROOT}`],
      ['another domain', 'evil.com'],
      ['the root domain itself', ROOT],
      ['an empty label', `.${ROOT}`],
      ['extra labels before the root', `evil.com.${ROOT}`],
      ['a subdomain of a tenant', `a.acme.${ROOT}`],
      ['the root as a prefix of another domain', `acme.${ROOT}.evil.com`],
      ['a look-alike root', 'acme.trials-example.com'],
      ['a trailing dot', `acme.${ROOT}.`],
      ['a port that is not one', `acme.${ROOT}:99999999`],
      ['an empty port', `acme.${ROOT}:`],
      ['a space', `ac me.${ROOT}`],
      ['a line break', `acme\r\nx.${ROOT}`],
      ['percent-encoding', `%61cme.${ROOT}`],
      ['a path', `acme.${ROOT}/../admin`],
      ['an IPv6 literal', '[::1]:8080'],
      ['a reserved name', `www.${ROOT}`],
      ['a slug with a double hyphen', `ac--me.${ROOT}`],
    ];

    it.each(hostile)('answers %s with 404, without reading or writing anything', async (_, host) => {
      world.calls.length = 0;

      const answer = await world.visit(host);

      expect(answer).toEqual({ status: 404, kind: 'unknown', format: 'html' });
      expect(world.calls).toEqual([]);
    });

    it.each([
      ['uppercase', `ACME-HOST.${ROOT.toUpperCase()}`],
      ['with a port', `acme-host.${ROOT}:8443`],
      ['mixed case with a port', `Acme-Host.Trials.Example.Com:443`],
    ])('finds the tenant for a host in %s, and writes nothing', async (_, host) => {
      if (!(await world.store.get('acme-host'))) await world.put('acme-host', { phase: 'Provisioning' });
      world.calls.length = 0;

      const answer = await world.visit(host);

      expect(answer).toMatchObject({ status: 503, kind: 'waking', tenant: 'acme-host' });
      expect(world.calls).toEqual(['get']);
    });
  });

  describe('when every routing slot is taken', () => {
    const settings = { maxActiveTenants: 3, minRunMs: 5 * MINUTE };

    it('passivates the least recently active tenant that is idle past the minimum run time', async () => {
      const full = await createWorld(settings);
      await full.put('busy', { slot: true, lastActiveAt: ago(MINUTE) });
      await full.put('oldest', { slot: true, lastActiveAt: ago(50 * MINUTE) });
      await full.put('older', { slot: true, lastActiveAt: ago(40 * MINUTE) });
      await full.put('sleeper', { phase: 'Passivated', desired: 'passivated' });

      const answer = await full.visit(`sleeper.${ROOT}`);

      expect(answer).toMatchObject({ status: 503, kind: 'waking' });
      expect((await full.store.get('sleeper'))!.spec.desired).toBe('running');
      expect((await full.store.get('oldest'))!.spec).toMatchObject({ desired: 'passivated', generation: 2 });
      expect((await full.store.get('older'))!.spec.desired).toBe('running');
      expect((await full.store.get('busy'))!.spec.desired).toBe('running');
    });

    it('does not evict a tenant within its minimum run time, however long ago its last visit', async () => {
      const full = await createWorld(settings);
      // Woken two minutes ago after a long sleep: its last activity is old, its run is young.
      await full.put('just-woken', { slot: true, transitionAt: ago(2 * MINUTE), lastActiveAt: ago(3 * 60 * MINUTE) });
      await full.put('idle', { slot: true, lastActiveAt: ago(20 * MINUTE) });
      await full.put('busy', { slot: true, lastActiveAt: ago(30_000) });
      await full.put('sleeper', { phase: 'Passivated', desired: 'passivated' });

      await full.visit(`sleeper.${ROOT}`);

      expect((await full.store.get('just-woken'))!.spec.desired).toBe('running');
      expect((await full.store.get('idle'))!.spec.desired).toBe('passivated');
      expect((await full.store.get('busy'))!.spec.desired).toBe('running');
    });

    it('never evicts a tenant whose plan never sleeps, nor one inside its keep-warm hours, however idle', async () => {
      const full = await createWorld(settings);
      // 12:00 UTC on a Friday is 13:00 in Paris.
      const officeHours: KeepWarm = { timeZone: 'Europe/Paris', days: ['fri'], from: '08:00', to: '18:00' };
      await full.put('paying', { slot: true, plan: 'pro', lastActiveAt: ago(5 * 60 * MINUTE) });
      await full.put('office', { slot: true, keepWarm: officeHours, lastActiveAt: ago(4 * 60 * MINUTE) });
      await full.put('idle', { slot: true, lastActiveAt: ago(20 * MINUTE) });
      await full.put('sleeper', { phase: 'Passivated', desired: 'passivated' });

      await full.visit(`sleeper.${ROOT}`);

      expect((await full.store.get('paying'))!.spec.desired).toBe('running');
      expect((await full.store.get('office'))!.spec.desired).toBe('running');
      expect((await full.store.get('idle'))!.spec.desired).toBe('passivated');
    });

    it('evicts nobody when no tenant qualifies: the woken tenant waits in the queue', async () => {
      const full = await createWorld(settings);
      await full.put('young', { slot: true, transitionAt: ago(MINUTE), lastActiveAt: ago(60 * MINUTE) });
      await full.put('busy', { slot: true, lastActiveAt: ago(MINUTE) });
      await full.put('provisioning', { phase: 'Provisioning', slot: true, lastActiveAt: ago(60 * MINUTE) });
      await full.put('sleeper', { phase: 'Passivated', desired: 'passivated' });
      full.calls.length = 0;

      const answer = await full.visit(`sleeper.${ROOT}`);

      expect(answer).toMatchObject({ status: 503, kind: 'waking' });
      expect(full.writes()).toEqual(['save']);
      expect((await full.store.get('sleeper'))!.spec.desired).toBe('running');
      for (const id of ['young', 'busy', 'provisioning']) expect((await full.store.get(id))!.spec.desired).toBe('running');
    });

    it('evicts at most one tenant per wake, and none for requests that write nothing', async () => {
      const full = await createWorld(settings);
      await full.put('idle-a', { slot: true, lastActiveAt: ago(50 * MINUTE) });
      await full.put('idle-b', { slot: true, lastActiveAt: ago(40 * MINUTE) });
      await full.put('idle-c', { slot: true, lastActiveAt: ago(30 * MINUTE) });
      await full.put('sleeper', { phase: 'Passivated', desired: 'passivated' });

      await full.visit(`sleeper.${ROOT}`);
      await full.visit(`sleeper.${ROOT}`);
      await full.visit(`sleeper.${ROOT}`);

      const desired = await Promise.all(['idle-a', 'idle-b', 'idle-c'].map(async (id) => (await full.store.get(id))!.spec.desired));
      expect(desired).toEqual(['passivated', 'running', 'running']);
    });

    it('evicts nobody while a slot is free, or when the woken tenant still holds its own', async () => {
      const roomy = await createWorld(settings);
      await roomy.put('idle-a', { slot: true, lastActiveAt: ago(50 * MINUTE) });
      await roomy.put('sleeper', { phase: 'Passivated', desired: 'passivated' });
      await roomy.visit(`sleeper.${ROOT}`);
      expect((await roomy.store.get('idle-a'))!.spec.desired).toBe('running');

      const full = await createWorld(settings);
      await full.put('idle-a', { slot: true, lastActiveAt: ago(50 * MINUTE) });
      await full.put('idle-b', { slot: true, lastActiveAt: ago(40 * MINUTE) });
      await full.put('dozing', { phase: 'Passivating', desired: 'passivated', slot: true, lastActiveAt: ago(60 * MINUTE) });
      full.calls.length = 0;
      await full.visit(`dozing.${ROOT}`);
      expect(full.calls).not.toContain('countRoutingSlots');
      expect((await full.store.get('idle-a'))!.spec.desired).toBe('running');
    });
  });
});

describe('wake over several routing shards', () => {
  const asleep = { phase: 'Passivated', desired: 'passivated' } as const;
  const idleFor = (minutes: number) => ({ slot: true, lastActiveAt: ago(minutes * MINUTE), transitionAt: ago(120 * MINUTE) });

  it('evicts no one while another shard has room: the woken tenant can move there', async () => {
    const world = await createWorld({ shards: 2, maxActiveTenants: 1 });
    await world.put('busy', { ...idleFor(60), shard: 0 });
    await world.put('sleeper', { ...asleep, shard: 0 });

    const answer = await world.visit(`sleeper.${ROOT}`);

    expect(answer).toMatchObject({ status: 503, kind: 'waking' });
    expect((await world.store.get('busy'))!.spec.desired).toBe('running');
    expect(world.calls).toContain('routingSlotsByShard');
  });

  it("with every shard full, evicts an idle tenant of the woken tenant's own shard before a longer idle one elsewhere", async () => {
    const world = await createWorld({ shards: 2, maxActiveTenants: 1 });
    await world.put('elsewhere', { ...idleFor(90), shard: 1 });
    await world.put('neighbour', { ...idleFor(30), shard: 0 });
    await world.put('sleeper', { ...asleep, shard: 0 });

    await world.visit(`sleeper.${ROOT}`);

    expect((await world.store.get('neighbour'))!.spec.desired).toBe('passivated');
    expect((await world.store.get('elsewhere'))!.spec.desired).toBe('running');
  });

  it('shows the waking page, and writes nothing, to a visitor whose DNS still names the shard a running tenant moved from', async () => {
    // The request reached the old shard's load balancer, which has no rule for the host.
    const world = await createWorld({ shards: 2, maxActiveTenants: 1 });
    await world.put('moved', { slot: true, shard: 1, lastActiveAt: ago(0) });

    const answer = await world.visit(`moved.${ROOT}`);

    expect(answer).toEqual({ status: 503, kind: 'waking', format: 'html', tenant: 'moved', phase: 'Running', retryAfter: 5, step: 'app' });
    expect(world.writes()).toEqual([]);
  });
});
