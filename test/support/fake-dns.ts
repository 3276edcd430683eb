import type { Dns } from '../../shared/ports/dns.js';

/** Each tenant's record as the Dns port leaves it, and every call made, in order. */
export class FakeDns implements Dns {
  readonly records = new Map<string, number>();
  readonly calls: string[] = [];

  async ensureRecord(tenantId: string, shard: number): Promise<void> {
    this.calls.push(`ensure ${tenantId} ${shard}`);
    this.records.set(tenantId, shard);
  }

  async removeRecord(tenantId: string): Promise<void> {
    this.calls.push(`remove ${tenantId}`);
    this.records.delete(tenantId);
  }
}
