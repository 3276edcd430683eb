import { ForeignResourceError } from '../../shared/domain/errors.js';
import type { Dns } from '../../shared/ports/dns.js';

/** What a tenant's name points at in the fake zone: one of the installation's shards, or something else. */
export type FakeRecord = { shard: number } | { foreign: string };

/**
 * The Dns port in memory, for use-case tests: one zone of records by tenant, which refuses to
 * touch a record that points at anything but the installation's shards, as Route 53Dns does.
 */
export class FakeDns implements Dns {
  readonly records = new Map<string, FakeRecord>();
  /** Calls made, in order, for tests that count them. */
  readonly calls: string[] = [];

  /** `shards`: how many load balancers the installation has (20, the most, unless said). */
  constructor(private readonly shards = 20) {}

  /** The shard the tenant's record points at, when it points at one. */
  shardOf(tenantId: string): number | undefined {
    const record = this.records.get(tenantId);
    return record && 'shard' in record ? record.shard : undefined;
  }

  async ensureRecord(tenantId: string, shard: number): Promise<void> {
    this.calls.push(`ensure ${tenantId} ${shard}`);
    if (shard < 0 || shard >= this.shards)
      throw new RangeError(`No load balancer for shard ${shard}: this installation has ${this.shards}`);
    this.refuseForeign(tenantId);
    this.records.set(tenantId, { shard });
  }

  async removeRecord(tenantId: string): Promise<void> {
    this.calls.push(`remove ${tenantId}`);
    this.refuseForeign(tenantId);
    this.records.delete(tenantId);
  }

  private refuseForeign(tenantId: string): void {
    const record = this.records.get(tenantId);
    if (record && 'foreign' in record) {
      throw new ForeignResourceError('DNS record', tenantId, tenantId, { tenantId: undefined, installation: undefined });
    }
  }
}
