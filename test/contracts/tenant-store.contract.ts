import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmailInUseError, SlugTakenError, TenantCeilingError, VersionConflictError } from '../../shared/domain/errors.js';
import { newTenant, withDesired, type Tenant } from '../../shared/domain/tenant.js';
import type { Markers, TenantStore } from '../../shared/ports/tenant-store.js';

/** One implementation of the TenantStore port. */
export interface TenantStoreSubject {
  store: TenantStore & Markers;
  close(): Promise<void>;
}

const NOW = new Date('2026-11-21T10:00:00.000Z');
const ROOMY = { maxTenants: 1_000 };

const tenant = (slug: string, email = `${slug}@example.com`): Tenant =>
  newTenant({ slug, email, plan: 'trial', tokenHash: `hash-of-${slug}`, now: NOW, trialDays: 14 });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/**
 * What the use cases rely on from TenantStore: atomic creation with its refusals (the ceiling
 * exact under concurrent creates), and writes that
 * win only from the version they read. Written once; DynamoDB (on DynamoDB Local) is the one
 * implementation today, and every use-case test runs on it too.
 */
export function describeTenantStoreContract(name: string, makeSubject: () => Promise<TenantStoreSubject>): void {
  describe(`TenantStore contract: ${name}`, () => {
    let subject: TenantStoreSubject;
    let store: TenantStore & Markers;

    beforeEach(async () => {
      subject = await makeSubject();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.close();
    });

    it('creates a tenant at version 1 and reads it back; an unknown one reads as nothing', async () => {
      const created = await store.create(tenant('acme'), ROOMY);
      expect(created).toEqual({ ...tenant('acme'), version: 1 });
      expect(await store.get('acme')).toEqual(created);
      expect(await store.get('nobody')).toBeUndefined();
    });

    it('refuses a taken slug, an email with a live trial, and a tenant over the ceiling', async () => {
      await store.create(tenant('acme'), { maxTenants: 2 });
      expect(await failure(store.create(tenant('acme', 'other@example.com'), ROOMY))).toBeInstanceOf(SlugTakenError);
      expect(await failure(store.create(tenant('globex', 'acme@example.com'), ROOMY))).toBeInstanceOf(EmailInUseError);
      await store.create(tenant('globex'), { maxTenants: 2 });
      expect(await failure(store.create(tenant('initech'), { maxTenants: 2 }))).toBeInstanceOf(TenantCeilingError);
      expect(await store.get('initech')).toBeUndefined();
    });

    it('admits exactly the ceiling from concurrent creates, refusing the rest with TenantCeilingError', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, index) => store.create(tenant(`t${index}`), { maxTenants: 7 })),
      );

      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(7);
      const refusals = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
      expect(refusals).toHaveLength(23);
      expect(refusals.every((error) => error instanceof TenantCeilingError)).toBe(true);
    });

    it('saves from the version read, and refuses a save from a stale read or of a tenant never created', async () => {
      const read = await store.create(tenant('acme'), ROOMY);
      const saved = await store.save(withDesired(read, 'passivated'));
      expect(saved.version).toBe(2);
      expect(await store.get('acme')).toEqual(saved);
      expect(await failure(store.save(withDesired(read, 'deleted')))).toBeInstanceOf(VersionConflictError);
      expect((await store.get('acme'))?.spec.desired).toBe('passivated');
      expect(await failure(store.save(tenant('ghost')))).toBeInstanceOf(VersionConflictError);
    });

    it('lists tenants by phase, page by page, each once', async () => {
      for (const slug of ['a1', 'a2', 'a3']) await store.create(tenant(slug), ROOMY);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ phase: tenant('x').status.phase, limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((item) => item.id));
        cursor = page.cursor;
      } while (cursor);
      expect(seen.sort()).toEqual(['a1', 'a2', 'a3']);
    });

    it('keeps where a background job left off, and forgets it when told', async () => {
      expect(await store.getMarker('sweep')).toBeUndefined();
      await store.setMarker('sweep', 'cursor-1');
      expect(await store.getMarker('sweep')).toBe('cursor-1');
      await store.setMarker('sweep', undefined);
      expect(await store.getMarker('sweep')).toBeUndefined();
    });
  });
}
