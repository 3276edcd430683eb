import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForeignResourceError } from '../../shared/domain/errors.js';
import type { Storage, StorageInventory } from '../../shared/ports/storage.js';

/** One implementation of the Storage port (and its inventory). */
export interface StorageSubject {
  storage: Storage & StorageInventory;
  /** The same account, file system or machine, seen by another installation. */
  otherInstallation: Storage & StorageInventory;
  /**
   * Puts storage where `tenantId`'s would be, tagged as another installation's, where the
   * implementation can tell owners apart by tags.
   */
  plantForeign?: (tenantId: string) => Promise<void>;
  close(): Promise<void>;
}

const sorted = (tenants: string[]) => [...tenants].sort();

/**
 * What the reconciler and drift repair rely on from Storage, written once and run against every
 * implementation: EfsStorage over the AWS model, the embedded mode's directories, and the fake.
 */
export function describeStorageContract(name: string, setup: () => Promise<StorageSubject>, features: Array<'resourcesByHand'> = []): void {
  describe(`Storage contract: ${name}`, () => {
    let subject: StorageSubject;

    beforeEach(async () => {
      subject = await setup();
    });

    afterEach(async () => {
      await subject.close();
    });

    it('ensure is safe to repeat and returns the same reference each time', async () => {
      const first = await subject.storage.ensure('acme');
      const second = await subject.storage.ensure('acme');

      expect(first).toEqual(expect.any(String));
      expect(second).toBe(first);
      expect(await subject.storage.managedTenants()).toEqual(['acme']);
    });

    it('gives each tenant a reference of its own', async () => {
      const acme = await subject.storage.ensure('acme');
      const globex = await subject.storage.ensure('globex');

      expect(globex).not.toBe(acme);
    });

    it('remove is safe to repeat', async () => {
      await subject.storage.ensure('acme');

      await subject.storage.remove('acme');
      await subject.storage.remove('acme');

      expect(await subject.storage.managedTenants()).toEqual([]);
    });

    it('removes a tenant that never had storage without complaint', async () => {
      await expect(subject.storage.remove('never-seen')).resolves.toBeUndefined();
      expect(await subject.storage.managedTenants()).toEqual([]);
    });

    it('lists exactly the tenants ensured and not removed since', async () => {
      for (const tenant of ['acme', 'globex', 'initech']) await subject.storage.ensure(tenant);
      await subject.storage.remove('globex');

      expect(sorted(await subject.storage.managedTenants())).toEqual(['acme', 'initech']);
    });

    it("lists no other installation's tenant, and leaves another installation's tenant of the same name alone", async () => {
      await subject.otherInstallation.ensure('acme');
      await subject.otherInstallation.ensure('hooli');
      await subject.storage.ensure('globex');

      await subject.storage.remove('acme');

      expect(await subject.storage.managedTenants()).toEqual(['globex']);
      expect(sorted(await subject.otherInstallation.managedTenants())).toEqual(['acme', 'hooli']);
    });

    it('ensures again after a remove', async () => {
      await subject.storage.ensure('acme');
      await subject.storage.remove('acme');

      await expect(subject.storage.ensure('acme')).resolves.toEqual(expect.any(String));
      expect(await subject.storage.managedTenants()).toEqual(['acme']);
    });

    // Only where owners are told apart by tags: elsewhere nothing can stand in a tenant's place.
    if (features.includes('resourcesByHand')) {
      it("refuses storage in a tenant's place that another installation's tags claim", async () => {
        await subject.plantForeign!('acme');

        await expect(subject.storage.ensure('acme')).rejects.toBeInstanceOf(ForeignResourceError);
      });
    }
  });
}
