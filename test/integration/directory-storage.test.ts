import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryStorage } from '../../shared/adapters/local/directory-storage.js';
import { directorySize, SIZE_WALK_LIMITS } from '../../shared/adapters/common/directory-size.js';
import { ARCHIVE_LIMITS } from '../../shared/domain/data-archives.js';

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

    expect(await storage.dataBytes('acme')).toEqual({ bytes: 12 + 4096 });
    expect(await storage.dataBytes('globex')).toEqual({ bytes: 0 });
  });

  it('stops at its entry count or its time, with what it counted so far as a lower bound', async () => {
    const storage = new DirectoryStorage(root);
    const dir = await storage.ensure('many');
    for (let index = 0; index < 10; index++) await writeFile(join(dir, `file-${index}`), Buffer.alloc(100));
    let time = 0;
    const slowClock = () => (time += 1_000);

    const all = await directorySize(dir, { maxEntries: 10, maxMs: 60_000 });
    const counted = await directorySize(dir, { maxEntries: 4, maxMs: 60_000 });
    const timed = await directorySize(dir, { maxEntries: 100, maxMs: 2_500 }, slowClock);

    expect(all).toEqual({ bytes: 1_000 });
    expect(counted).toEqual({ bytes: 400, lowerBound: true });
    expect(timed).toEqual({ bytes: 200, lowerBound: true });
    expect(SIZE_WALK_LIMITS.maxEntries).toBe(ARCHIVE_LIMITS.maxEntries);
  });
});
