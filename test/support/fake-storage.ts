import type { Storage, StorageInventory } from '../../shared/ports/storage.js';

/**
 * Storage for use-case tests: what each installation holds, in memory. Installations made from
 * one `FakeStorageWorld` share it, as two installations share an AWS account.
 */
export class FakeStorageWorld {
  /** `<installation>/<tenant>` of every tenant that has storage. */
  readonly held = new Set<string>();

  storage(installation: string): FakeStorage {
    return new FakeStorage(this, installation);
  }
}

export class FakeStorage implements Storage, StorageInventory {
  /** Every call, in order, as `ensure <tenant>` / `remove <tenant>`. */
  readonly calls: string[] = [];

  constructor(
    private readonly world: FakeStorageWorld = new FakeStorageWorld(),
    private readonly installation = 'fake',
  ) {}

  async ensure(tenantId: string): Promise<string> {
    this.calls.push(`ensure ${tenantId}`);
    this.world.held.add(this.key(tenantId));
    return `fake-volume:${this.key(tenantId)}`;
  }

  async remove(tenantId: string): Promise<void> {
    this.calls.push(`remove ${tenantId}`);
    this.world.held.delete(this.key(tenantId));
  }

  async managedTenants(): Promise<string[]> {
    const prefix = `${this.installation}/`;
    return [...this.world.held]
      .filter((key) => key.startsWith(prefix))
      .map((key) => key.slice(prefix.length))
      .sort();
  }

  private key(tenantId: string): string {
    return `${this.installation}/${tenantId}`;
  }
}
