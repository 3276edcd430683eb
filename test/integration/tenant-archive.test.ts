import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';
import { describe, expect, it } from 'vitest';
import {
  packTenantData,
  previousOf,
  recoverSwap,
  replaceDirectory,
  unpackTenantData,
} from '../../shared/adapters/common/tenant-archive.js';
import { DirectoryStorage } from '../../shared/adapters/local/directory-storage.js';
import { ArchiveRejectedError } from '../../shared/domain/errors.js';

const LIMITS = { maxBytes: 1_048_576, maxEntries: 100 };

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'dormouse-archive-'));
}

/** A .tar.gz of `entries` (paths relative to `cwd`), packed as given, `..` and all. */
function archiveOf(cwd: string, entries: string[]): Readable {
  return create({ gzip: true, cwd, preservePaths: true, portable: true }, entries) as unknown as Readable;
}

describe('tenant archives', () => {
  it('restores exactly what was exported: files, directories and contents', async () => {
    // Prepare
    const root = scratch();
    const source = join(root, 'acme');
    mkdirSync(join(source, 'db'), { recursive: true });
    writeFileSync(join(source, 'visits.json'), '{"visits":7}');
    writeFileSync(join(source, 'db', 'app.sqlite'), Buffer.alloc(4096, 7));

    // Act
    const result = await unpackTenantData(packTenantData(source), join(root, 'restored'), LIMITS);

    // Assess
    expect(result).toEqual({ files: 2, bytes: 12 + 4096 });
    expect(readFileSync(join(root, 'restored', 'visits.json'), 'utf8')).toBe('{"visits":7}');
    expect(readFileSync(join(root, 'restored', 'db', 'app.sqlite'))).toEqual(Buffer.alloc(4096, 7));
  });

  it.each([
    ['a path that climbs out', (root: string) => archiveOf(join(root, 'inner'), ['../outside.txt']), /outside the tenant's directory/],
    ['a symbolic link', (root: string) => archiveOf(join(root, 'inner'), ['link']), /link is a SymbolicLink/],
    ['more bytes than allowed', (root: string) => archiveOf(join(root, 'inner'), ['big.bin']), /more than 1 MiB/],
    ['something that is not a .tar.gz', () => Readable.from([Buffer.from('not an archive at all')]), /not a readable \.tar\.gz/],
  ])('refuses an archive with %s and leaves nothing of it', async (_name, archive, reason) => {
    // Prepare
    const root = scratch();
    mkdirSync(join(root, 'inner'));
    writeFileSync(join(root, 'outside.txt'), 'not the tenant’s');
    writeFileSync(join(root, 'inner', 'big.bin'), Buffer.alloc(LIMITS.maxBytes + 1));
    symlinkSync('/etc/passwd', join(root, 'inner', 'link'));
    const target = join(root, 'restored');

    // Act
    const restoring = unpackTenantData(archive(root), target, LIMITS);

    // Assess
    await expect(restoring).rejects.toThrow(ArchiveRejectedError);
    await expect(unpackTenantData(archive(root), join(root, 'again'), LIMITS)).rejects.toThrow(reason);
    expect(existsSync(target)).toBe(false);
  });

  it('replaces a directory with the restored one, old data gone', async () => {
    // Prepare
    const root = scratch();
    mkdirSync(join(root, 'acme'));
    writeFileSync(join(root, 'acme', 'old.txt'), 'old');
    mkdirSync(join(root, 'staged'));
    writeFileSync(join(root, 'staged', 'new.txt'), 'new');

    // Act
    await replaceDirectory(join(root, 'acme'), join(root, 'staged'));

    // Assess
    expect(readFileSync(join(root, 'acme', 'new.txt'), 'utf8')).toBe('new');
    expect(existsSync(join(root, 'acme', 'old.txt'))).toBe(false);
    expect(existsSync(join(root, 'staged'))).toBe(false);
    expect(existsSync(join(root, 'staged.previous'))).toBe(false);
  });

  it('puts the old data back after a swap cut short between its renames, before the tenant starts again', async () => {
    // Prepare: the state a crash between the two renames leaves: the old data aside, no directory.
    const root = scratch();
    const target = join(root, 'tenants', 'acme');
    mkdirSync(previousOf(target), { recursive: true });
    writeFileSync(join(previousOf(target), 'visits.json'), '{"visits":7}');

    // Act: the next start of the tenant asks for its directory.
    const dir = await new DirectoryStorage(root).ensure('acme');

    // Assess
    expect(dir).toBe(target);
    expect(readFileSync(join(target, 'visits.json'), 'utf8')).toBe('{"visits":7}');
    expect(existsSync(previousOf(target))).toBe(false);
  });

  it('leaves a directory alone that has data of its own', async () => {
    // Prepare
    const root = scratch();
    const target = join(root, 'acme');
    mkdirSync(target);
    writeFileSync(join(target, 'new.txt'), 'written since');
    mkdirSync(previousOf(target));
    writeFileSync(join(previousOf(target), 'old.txt'), 'old');

    // Act
    await recoverSwap(target);

    // Assess
    expect(readFileSync(join(target, 'new.txt'), 'utf8')).toBe('written since');
    expect(existsSync(join(target, 'old.txt'))).toBe(false);
  });
});
