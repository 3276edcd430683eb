import { describe, expect, it } from 'vitest';
import { reconcile } from '../../shared/app/reconcile.js';
import type { Tenant } from '../../shared/domain/tenant.js';
import { FakeDns } from '../support/fake-dns.js';
import { createWorld } from '../support/reconciler-world.js';

/** A world of `shards` load balancers of `slots` routing slots each, with a DNS that records its calls. */
async function shardedWorld(shards: number, slots: number) {
  const world = await createWorld({ settings: { shards, maxActiveTenants: slots } });
  const dns = new FakeDns();
  world.deps.dns = dns;
  // Placement breaks ties between equally free shards at random: here always the lowest, so tests can name the shard.
  world.deps.random = () => 0;
  // Whether the tenant had a rule on a load balancer when its record was pointed: it must not.
  const ruleAtEnsure: string[] = [];
  const ensure = dns.ensureRecord.bind(dns);
  dns.ensureRecord = async (tenantId, shard) => {
    if ([...world.cloud.rules.values()].some((rule) => rule.tenantId === tenantId && rule.shard === shard)) ruleAtEnsure.push(tenantId);
    return ensure(tenantId, shard);
  };
  const tenant = async (id: string): Promise<Tenant> => (await world.store.get(id))!;
  const rulesOf = (id: string) => [...world.cloud.rules.values()].filter((rule) => rule.tenantId === id);
  return { ...world, dns, ruleAtEnsure, tenant, rulesOf };
}

describe('reconcile over several routing shards', () => {
  it('places each new tenant on the shard with the most free slots, with its DNS record pointed there before its rule is made', async () => {
    const world = await shardedWorld(3, 2);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const id of ids) await world.signUp(id);

    await world.converge(ids);

    const shards = await Promise.all(ids.map(async (id) => (await world.tenant(id)).status.shard));
    // One on each shard before any shard gets a second (ties are broken at random).
    expect(new Set(shards.slice(0, 3)).size).toBe(3);
    expect(new Set(shards.slice(3)).size).toBe(3);
    expect(await world.store.routingSlotsByShard(3)).toEqual([2, 2, 2]);
    for (const [index, id] of ids.entries()) {
      expect(world.rulesOf(id).map((rule) => rule.shard)).toEqual([shards[index]]);
      expect(world.dns.shardOf(id)).toBe(shards[index]);
      expect((await world.tenant(id)).status).toMatchObject({ phase: 'Running', dnsShard: shards[index] });
    }
    expect(world.ruleAtEnsure).toEqual([]);
    // Once recorded, the record is not pointed again at every look.
    expect(world.dns.calls).toHaveLength(6);
  });

  it('spreads a burst of first placements over the shards, none queued while a shard has room', async () => {
    const world = await shardedWorld(3, 2);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const id of ids) await world.signUp(id);
    // Every placement of the burst reads the same counts, all shards empty.
    let draw = 0;
    world.deps.random = () => (draw++ % 3) / 3;

    await Promise.all(ids.map((id) => reconcile(world.deps, id)));

    const statuses = await Promise.all(ids.map(async (id) => (await world.tenant(id)).status));
    expect(statuses.filter((status) => status.phase === 'Queued').map((status) => status.lastError)).toEqual([]);
    expect(await world.store.routingSlotsByShard(3)).toEqual([2, 2, 2]);
  });

  it('queues a tenant when every shard is full, and never holds more slots on a shard than it has', async () => {
    const world = await shardedWorld(2, 1);
    for (const id of ['a', 'b', 'c']) await world.signUp(id);

    await world.rounds(['a', 'b', 'c'], 15);

    expect(await world.store.routingSlotsByShard(2)).toEqual([1, 1]);
    expect((await world.tenant('c')).status).toMatchObject({
      phase: 'Queued',
      lastErrorCategory: 'queued',
      lastError: 'All 2 routing slots (1 on each of 2 load balancers) are in use; the tenant starts as soon as one frees up.',
    });
    expect((await world.tenant('c')).status.slot).toBeFalsy();
    expect(world.cloud.liveTasksOf('c')).toHaveLength(0);
    expect(world.dns.records.has('c')).toBe(false);
  });

  it('moves a woken tenant whose shard is full to a shard with room, and keeps it there', async () => {
    // Prepare: a runs on shard 0 and goes to sleep; c takes shard 0's only slot meanwhile.
    const world = await shardedWorld(2, 1);
    await world.signUp('a');
    await world.converge(['a']);
    await world.setDesired('a', 'passivated');
    await world.converge(['a']);
    expect((await world.tenant('a')).status).toMatchObject({ phase: 'Passivated', shard: 0, dnsShard: 0, slot: false });
    expect(world.dns.shardOf('a')).toBe(0);
    await world.signUp('c');
    await world.converge(['c']);
    expect((await world.tenant('c')).status.shard).toBe(0);

    // Act
    await world.setDesired('a', 'running');
    await world.converge(['a', 'c']);

    // Assess
    expect((await world.tenant('a')).status).toMatchObject({ phase: 'Running', shard: 1, dnsShard: 1 });
    expect(world.rulesOf('a').map((rule) => rule.shard)).toEqual([1]);
    expect(world.dns.shardOf('a')).toBe(1);
    expect(await world.store.routingSlotsByShard(2)).toEqual([1, 1]);
  });

  it('keeps a sleeping tenant its DNS record, and removes it once the tenant is deleted and nothing routes to it', async () => {
    const world = await shardedWorld(2, 2);
    await world.signUp('a');
    await world.converge(['a']);
    await world.setDesired('a', 'passivated');
    await world.converge(['a']);
    expect(world.dns.shardOf('a')).toBe(0);

    await world.setDesired('a', 'deleted');
    await world.converge(['a']);

    expect(world.dns.records.has('a')).toBe(false);
    expect(world.dns.calls).toEqual(['ensure a 0', 'remove a']);
    expect((await world.tenant('a')).status).toMatchObject({ phase: 'Deleted' });
    expect((await world.tenant('a')).status.dnsShard).toBeUndefined();
    expect(await world.store.routingSlotsByShard(2)).toEqual([0, 0]);
  });

  it('with one shard writes no shard on the record and makes no DNS record: the wildcard serves', async () => {
    const world = await shardedWorld(1, 2);
    await world.signUp('a');

    await world.converge(['a']);
    await world.setDesired('a', 'deleted');
    await world.converge(['a']);

    expect((await world.tenant('a')).status.shard).toBeUndefined();
    expect(world.dns.calls).toEqual([]);
  });
});
