import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForeignResourceError } from '../../shared/domain/errors.js';
import type { Dns } from '../../shared/ports/dns.js';

/** One implementation of the Dns port, over an installation of SHARDS shards. */
export interface DnsSubject {
  dns: Dns;
  /** The shard the tenant's record points at, `'foreign'` for anything else, undefined without a record. */
  targetOf(tenantId: string): Promise<number | 'foreign' | undefined>;
  /** Makes a record of the tenant's name that points elsewhere (by hand, or another installation's). */
  plantForeign(tenantId: string): Promise<void>;
  close(): Promise<void>;
}

export const SHARDS = 3;

/**
 * What the reconciler relies on from Dns, written once and run against every implementation:
 * Route53Dns over the AWS model, and the fake.
 */
export function describeDnsContract(name: string, setup: () => Promise<DnsSubject>): void {
  describe(`Dns contract: ${name}`, () => {
    let subject: DnsSubject;

    beforeEach(async () => {
      subject = await setup();
    });

    afterEach(async () => {
      await subject.close();
    });

    it("points the tenant's record at its shard, safe to repeat", async () => {
      await subject.dns.ensureRecord('acme', 2);
      await subject.dns.ensureRecord('acme', 2);

      expect(await subject.targetOf('acme')).toBe(2);
    });

    it('moves the record when the tenant moves to another shard', async () => {
      await subject.dns.ensureRecord('acme', 0);
      await subject.dns.ensureRecord('acme', 1);

      expect(await subject.targetOf('acme')).toBe(1);
    });

    it("removes the tenant's record, safe to repeat and for a tenant that never had one", async () => {
      await subject.dns.ensureRecord('acme', 0);
      await subject.dns.ensureRecord('globex', 1);

      await subject.dns.removeRecord('acme');
      await subject.dns.removeRecord('acme');
      await subject.dns.removeRecord('initech');

      expect(await subject.targetOf('acme')).toBeUndefined();
      expect(await subject.targetOf('globex')).toBe(1);
    });

    it('gives every tenant of a burst its record', async () => {
      const tenants = Array.from({ length: 40 }, (_, i) => `t${i}`);

      await Promise.all(tenants.map((tenant, i) => subject.dns.ensureRecord(tenant, i % SHARDS)));

      expect(await Promise.all(tenants.map((tenant) => subject.targetOf(tenant)))).toEqual(tenants.map((_, i) => i % SHARDS));
    });

    it("refuses, and leaves alone, a record of the tenant's name that points elsewhere", async () => {
      await subject.plantForeign('acme');

      await expect(subject.dns.ensureRecord('acme', 0)).rejects.toBeInstanceOf(ForeignResourceError);
      await expect(subject.dns.removeRecord('acme')).rejects.toBeInstanceOf(ForeignResourceError);

      expect(await subject.targetOf('acme')).toBe('foreign');
    });

    it('refuses a shard the installation does not have', async () => {
      await expect(subject.dns.ensureRecord('acme', SHARDS)).rejects.toThrow();
      expect(await subject.targetOf('acme')).toBeUndefined();
    });
  });
}
