import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryStorage } from '../../shared/adapters/local/directory-storage.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'dormouse-directory-storage-'));
});

afterEach(() => rm(root, { recursive: true, force: true }));

describe('DirectoryStorage: data size', () => {
  it('counts the bytes of the tenant’s own files, in every subdirectory, without following links out', async () => {
    const storage = new DirectoryStorage(root);
    const dir = await storage.ensure('acme');
    await mkdir(join(dir, 'db'));
    await writeFile(join(dir, 'visits.json'), '{"visits":3}');
    await writeFile(join(dir, 'db', 'data'), Buffer.alloc(4096));
    await writeFile(join(root, 'outside'), Buffer.alloc(100_000));
    await symlink(join(root, 'outside'), join(dir, 'link-out'));

    expect(await storage.dataBytes('acme')).toBe(12 + 4096);
    expect(await storage.dataBytes('globex')).toBe(0);
  });
});
