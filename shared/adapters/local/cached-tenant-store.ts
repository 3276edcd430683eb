import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { Tenant } from '../../domain/tenant.js';
import type { CreateLimits, ReadOptions, SaveOptions } from '../../ports/tenant-store.js';
import { DynamoDbTenantStore, tenantFromItem, tenantItem } from '../aws/dynamodb-tenant-store.js';

/** A read or write of one tenant's record that has not settled yet. */
interface Operation {
  write: boolean;
  /**
   * What this one saw may be out of date: another write of the record was out at some moment
   * of it (for a read, any write; for a write, another write).
   */
  spoiled: boolean;
}

/**
 * Embedded mode's tenant records, kept in memory in front of DynamoDB Local. Embedded mode is
 * its table's only writer, and the API, the wake handler, the control plane and the sweep all
 * share this one store, so a record it wrote or read last is the one DynamoDB Local holds: a
 * status read need not go there again (a GetItem costs most of an embedded status read). On
 * AWS many functions write the table and every read goes to DynamoDB.
 *
 * A record is kept only when nothing can have changed it unseen:
 * - a write's result is kept only if no other write of that tenant overlapped it;
 * - a read's result only if no write of that tenant was out at any moment of the read;
 * - a write that failed, or may have (a conflict, a timeout), leaves nothing kept, so the
 *   next read asks DynamoDB Local;
 * - a record past its `expiresAt` (a tombstone, an unconfirmed signup) is read again, as
 *   DynamoDB may remove it.
 * Each caller gets its own copy, so none can change what the next one reads. Bounded: the
 * least recently used records beyond `maxRecords` are dropped.
 */
export class CachedTenantStore extends DynamoDbTenantStore {
  private readonly maxRecords: number;
  private readonly records = new Map<string, Tenant>();
  private readonly unsettled = new Map<string, Set<Operation>>();

  constructor(options: ConstructorParameters<typeof DynamoDbTenantStore>[0] & { maxRecords?: number }) {
    super(options);
    this.maxRecords = options.maxRecords ?? 10_000;
  }

  override async get(id: string, options?: ReadOptions): Promise<Tenant | undefined> {
    const kept = this.kept(id);
    if (kept) return structuredClone(kept);
    const read = this.begin(id, false);
    try {
      const tenant = await super.get(id, options);
      // The caller gets this object: what is kept is a copy of it.
      if (tenant && !read.spoiled) this.keep(structuredClone(tenant));
      return tenant;
    } finally {
      this.end(id, read);
    }
  }

  override create(tenant: Tenant, limits: CreateLimits): Promise<Tenant> {
    return this.writeThrough(tenant.id, () => super.create(tenant, limits));
  }

  override save(tenant: Tenant, options?: SaveOptions): Promise<Tenant> {
    return this.writeThrough(tenant.id, () => super.save(tenant, options));
  }

  /** The record is gone once this succeeds: nothing to keep. */
  override async discardPending(tenant: Tenant): Promise<void> {
    await this.writeThrough(tenant.id, async () => {
      await super.discardPending(tenant);
      return undefined;
    });
  }

  private async writeThrough<T extends Tenant | undefined>(id: string, write: () => Promise<T>): Promise<T> {
    // Until the write has answered, the table may hold the record before or after it.
    this.records.delete(id);
    const operation = this.begin(id, true);
    try {
      const written = await write();
      if (written && !operation.spoiled) this.keep(asStored(written));
      return written;
    } finally {
      this.end(id, operation);
    }
  }

  private kept(id: string): Tenant | undefined {
    const tenant = this.records.get(id);
    if (!tenant) return undefined;
    if (tenant.expiresAt !== undefined && tenant.expiresAt * 1000 <= Date.now()) {
      this.records.delete(id);
      return undefined;
    }
    // Most recently used last: the first key is the one to drop.
    this.records.delete(id);
    this.records.set(id, tenant);
    return tenant;
  }

  /** `tenant` must be nobody else's: it is kept as it is. */
  private keep(tenant: Tenant): void {
    this.records.delete(tenant.id);
    this.records.set(tenant.id, tenant);
    if (this.records.size > this.maxRecords) this.records.delete(this.records.keys().next().value!);
  }

  private begin(id: string, write: boolean): Operation {
    const operation: Operation = { write, spoiled: false };
    const others = this.unsettled.get(id) ?? new Set<Operation>();
    for (const other of others) {
      if (other.write) operation.spoiled = true;
      if (write) other.spoiled = true;
    }
    others.add(operation);
    this.unsettled.set(id, others);
    return operation;
  }

  private end(id: string, operation: Operation): void {
    const others = this.unsettled.get(id);
    if (!others) return;
    others.delete(operation);
    if (operation.write) for (const other of others) other.spoiled = true;
    if (others.size === 0) this.unsettled.delete(id);
  }
}

/** A record as a read of it would return it: fields left undefined are not written. */
function asStored(tenant: Tenant): Tenant {
  return tenantFromItem(unmarshall(marshall(tenantItem(tenant), { removeUndefinedValues: true })));
}
