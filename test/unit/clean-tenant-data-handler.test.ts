import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCleanTenantDataHandler } from '../../shared/events/clean-tenant-data-handler.js';

/**
 * The cleaner over a temporary directory standing in for the `/tenants` access point: a `base`
 * directory holds `tenants/` (the mount) and a file beside it that nothing may reach.
 */
let base: string;
let root: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'dormouse-cleaner-'));
  root = join(base, 'tenants');
  for (const tenant of ['acme', 'globex']) {
    mkdirSync(join(root, tenant, 'db', 'wal'), { recursive: true });
    writeFileSync(join(root, tenant, 'visits.json'), '{"visits":3}');
    writeFileSync(join(root, tenant, 'db', 'wal', 'segment'), 'x');
  }
  writeFileSync(join(base, 'outside'), 'keep');
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('the tenant data cleaner', () => {
  it("removes the tenant's directory and everything in it, and nothing else", async () => {
    const clean = createCleanTenantDataHandler(root);

    const result = await clean({ tenantId: 'acme' });

    expect(result).toEqual({ removed: true });
    expect(readdirSync(root)).toEqual(['globex']);
    expect(readdirSync(join(root, 'globex')).sort()).toEqual(['db', 'visits.json']);
    expect(existsSync(join(base, 'outside'))).toBe(true);
  });

  it('answers removed for a tenant that has no directory, and again for one already removed', async () => {
    const clean = createCleanTenantDataHandler(root);

    await expect(clean({ tenantId: 'initech' })).resolves.toEqual({ removed: true });
    await expect(clean({ tenantId: 'acme' })).resolves.toEqual({ removed: true });
    await expect(clean({ tenantId: 'acme' })).resolves.toEqual({ removed: true });
    expect(readdirSync(root)).toEqual(['globex']);
  });

  it.each([
    ['..', 'the parent of the root'],
    ['../tenants', 'the root through its parent'],
    ['.', 'the root itself'],
    ['', 'the root itself'],
    ['acme/../globex', "another tenant's directory"],
    ['/etc', 'an absolute path'],
    ['Acme', 'a name that is no slug'],
    ['acme/db', 'a directory inside a tenant'],
  ])('refuses %j (%s) and removes nothing', async (tenantId) => {
    const clean = createCleanTenantDataHandler(root);

    await expect(clean({ tenantId })).rejects.toThrow(/Refusing to clean/);

    expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
    expect(readdirSync(join(root, 'acme')).sort()).toEqual(['db', 'visits.json']);
    expect(existsSync(join(base, 'outside'))).toBe(true);
  });

  it.each([[undefined], [null], ['acme'], [{}], [{ tenantId: 7 }], [{ tenantId: 'acme', path: '/' }]])(
    'refuses a request that is not {"tenantId": "<id>"}: %j',
    async (event) => {
      const clean = createCleanTenantDataHandler(root);

      await expect(clean(event)).rejects.toThrow(/Expected \{"tenantId"/);

      expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
    },
  );

  it('fails, rather than answers removed, when the files cannot be removed', async () => {
    // A file where the root should be: removing <root>/acme fails with ENOTDIR, not silently.
    const clean = createCleanTenantDataHandler(join(base, 'outside'));

    await expect(clean({ tenantId: 'acme' })).rejects.toThrow();
  });
});
