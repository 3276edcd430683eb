import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { extract } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packTenantData } from '../../shared/adapters/common/tenant-archive.js';
import { createTenantDataHandler } from '../../shared/adapters/aws/tenant-data-function.js';

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

describe('the tenant data function: size', () => {
  it('answers the bytes of the tenant’s files, its own only, and 0 for a tenant without a directory', async () => {
    const measure = createTenantDataHandler({ root });
    symlinkSync(join(base, 'outside'), join(root, 'acme', 'link-out'));

    expect(await measure({ action: 'size', tenantId: 'acme' })).toEqual({ bytes: '{"visits":3}'.length + 1 });
    expect(await measure({ action: 'size', tenantId: 'initech' })).toEqual({ bytes: 0 });
    await expect(measure({ action: 'size', tenantId: '..' })).rejects.toThrow(/Refusing/);
  });
});

describe('the tenant data function: remove', () => {
  it("removes the tenant's directory and everything in it, and nothing else", async () => {
    const clean = createTenantDataHandler({ root });

    const result = await clean({ tenantId: 'acme' });

    expect(result).toEqual({ removed: true });
    expect(readdirSync(root)).toEqual(['globex']);
    expect(readdirSync(join(root, 'globex')).sort()).toEqual(['db', 'visits.json']);
    expect(existsSync(join(base, 'outside'))).toBe(true);
  });

  it("removes what a restore cut short left of the tenant's, and nothing of another tenant's", async () => {
    const uuid = '0b8e6a8e-3c1e-4d4e-9a55-8f1c2d3e4f50';
    for (const name of [`.restore-acme-${uuid}`, `.restore-acme-${uuid}.previous`, `.restore-acme-corp-${uuid}`]) {
      mkdirSync(join(root, name, 'db'), { recursive: true });
    }

    await createTenantDataHandler({ root })({ tenantId: 'acme' });

    expect(readdirSync(root).sort()).toEqual([`.restore-acme-corp-${uuid}`, 'globex']);
  });

  it('answers removed for a tenant that has no directory, and again for one already removed', async () => {
    const clean = createTenantDataHandler({ root });

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
    const clean = createTenantDataHandler({ root });

    await expect(clean({ tenantId })).rejects.toThrow(/Refusing to touch the data of/);

    expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
    expect(readdirSync(join(root, 'acme')).sort()).toEqual(['db', 'visits.json']);
    expect(existsSync(join(base, 'outside'))).toBe(true);
  });

  it.each([
    [undefined],
    [null],
    ['acme'],
    [{}],
    [{ tenantId: 7 }],
    [{ tenantId: 'acme', path: '/' }],
    [{ action: 'purge', tenantId: 'acme' }],
    [{ action: 'export', tenantId: 'acme' }],
  ])('refuses a request that is none of the forms it takes: %j', async (event) => {
    const clean = createTenantDataHandler({ root });

    await expect(clean(event)).rejects.toThrow(/Expected \{"tenantId"\}/);

    expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
  });

  it('fails, rather than answers removed, when the files cannot be removed', async () => {
    // A file where the root should be: removing <root>/acme fails with ENOTDIR, not silently.
    const clean = createTenantDataHandler({ root: join(base, 'outside') });

    await expect(clean({ tenantId: 'acme' })).rejects.toThrow();
  });
});

describe('the tenant data function: export and restore', () => {
  const s3 = mockClient(S3Client);
  const BUCKET = 'dormouse-prod-archives';
  const ID = '0b8e6a8e-3c1e-4d4e-9a55-8f1c2d3e4f50';
  const EXPORT_KEY = `exports/acme/${ID}.tar.gz`;
  const RESTORE_KEY = `restores/acme/${ID}.tar.gz`;
  const limits = { maxBytes: 1024 * 1024, maxEntries: 100 };
  const handler = () => createTenantDataHandler({ root, archives: { s3: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET, limits } });

  beforeEach(() => s3.reset());

  /** The files under `dir`, relative paths → content. */
  function filesIn(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (sub: string) => {
      for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
        const path = sub ? `${sub}/${entry.name}` : entry.name;
        if (entry.isDirectory()) walk(path);
        else files[path] = readFileSync(join(dir, path), path.endsWith('.bin') ? 'latin1' : 'utf8');
      }
    };
    walk('');
    return files;
  }

  /** `files` packed as the export would be, from a directory of their own. */
  async function archiveOf(files: Record<string, string>, link?: string): Promise<Buffer> {
    const dir = mkdtempSync(join(base, 'source-'));
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    if (link) symlinkSync('/etc/passwd', join(dir, link));
    return buffer(packTenantData(dir));
  }

  async function buffer(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async function unpacked(archive: Uint8Array): Promise<Record<string, string>> {
    const dir = join(base, 'unpacked');
    mkdirSync(dir);
    await pipeline(Readable.from([Buffer.from(archive)]), extract({ cwd: dir }));
    return filesIn(dir);
  }

  function getObjectAnswers(archive: Buffer): void {
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: RESTORE_KEY }).resolves({ Body: Readable.from([archive]) as never });
  }

  it("removes on {action: 'remove'} as on {tenantId} alone", async () => {
    await expect(handler()({ action: 'remove', tenantId: 'acme' })).resolves.toEqual({ removed: true });

    expect(readdirSync(root)).toEqual(['globex']);
    expect(s3.calls()).toHaveLength(0);
  });

  it("uploads the tenant's files, and only them, as a .tar.gz to the key it is given", async () => {
    s3.on(PutObjectCommand).resolves({});

    const result = await handler()({ action: 'export', tenantId: 'acme', key: EXPORT_KEY });

    const puts = s3.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(1);
    const input = puts[0]!.args[0].input;
    expect(input).toMatchObject({ Bucket: BUCKET, Key: EXPORT_KEY, ContentType: 'application/gzip' });
    const body = input.Body as Uint8Array;
    expect(result).toEqual({ bytes: body.byteLength });
    expect(await unpacked(body)).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
    expect(s3.calls().map((call) => call.args[0].constructor.name)).toEqual(['PutObjectCommand']);
  });

  it('sends an export larger than one part in parts that together are the archive', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    writeFileSync(join(root, 'acme', 'upload.bin'), big);
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({ ETag: `"etag-${input.PartNumber}"` }));
    s3.on(CompleteMultipartUploadCommand).resolves({});

    const result = await handler()({ action: 'export', tenantId: 'acme', key: EXPORT_KEY });

    expect(s3.commandCalls(CreateMultipartUploadCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ Bucket: BUCKET, Key: EXPORT_KEY, ContentType: 'application/gzip' }),
    ]);
    const parts = s3
      .commandCalls(UploadPartCommand)
      .map((call) => call.args[0].input)
      .sort((a, b) => a.PartNumber! - b.PartNumber!);
    expect(parts.length).toBeGreaterThan(1);
    const archive = Buffer.concat(parts.map((part) => Buffer.from(part.Body as Uint8Array)));
    expect(result).toEqual({ bytes: archive.length });
    const files = await unpacked(archive);
    expect(Buffer.from(files['upload.bin']!, 'latin1').equals(big)).toBe(true);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      Bucket: BUCKET,
      Key: EXPORT_KEY,
      UploadId: 'upload-1',
    });
  });

  it('exports an empty archive for a tenant that has no directory yet', async () => {
    s3.on(PutObjectCommand).resolves({});

    await handler()({ action: 'export', tenantId: 'initech', key: `exports/initech/${ID}.tar.gz` });

    expect(await unpacked(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.Body as Uint8Array)).toEqual({});
    expect(existsSync(join(root, 'initech'))).toBe(false);
  });

  it("replaces the tenant's files with the uploaded archive's, and leaves nothing staged", async () => {
    getObjectAnswers(await archiveOf({ 'visits.json': '{"visits":41}', 'uploads/a.txt': 'hello' }));

    const result = await handler()({ action: 'restore', tenantId: 'acme', key: RESTORE_KEY });

    expect(result).toEqual({ files: 2, bytes: 13 + 5 });
    expect(filesIn(join(root, 'acme'))).toEqual({ 'visits.json': '{"visits":41}', 'uploads/a.txt': 'hello' });
    expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
    expect(filesIn(join(root, 'globex'))).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
    expect(s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input)).toEqual([{ Bucket: BUCKET, Key: RESTORE_KEY }]);
  });

  it('answers ArchiveRejected for an archive with a link, keeps the old files and leaves nothing staged', async () => {
    getObjectAnswers(await archiveOf({ 'visits.json': '{"visits":41}' }, 'passwd'));

    const result = await handler()({ action: 'restore', tenantId: 'acme', key: RESTORE_KEY });

    expect(result).toEqual({
      error: 'ArchiveRejected',
      message: expect.stringMatching(/^The archive was not restored: .*passwd is a SymbolicLink/),
    });
    expect(filesIn(join(root, 'acme'))).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
    expect(readdirSync(root).sort()).toEqual(['acme', 'globex']);
  });

  it('answers ArchiveRejected for an archive over the limits', async () => {
    getObjectAnswers(await archiveOf({ big: 'x'.repeat(limits.maxBytes + 1) }));

    const result = await handler()({ action: 'restore', tenantId: 'acme', key: RESTORE_KEY });

    expect(result).toMatchObject({ error: 'ArchiveRejected', message: expect.stringMatching(/more than 1 MiB/) });
    expect(filesIn(join(root, 'acme'))).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
  });

  it('answers NotFound when nothing was uploaded under the key, and touches nothing', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));

    const result = await handler()({ action: 'restore', tenantId: 'acme', key: RESTORE_KEY });

    expect(result).toMatchObject({ error: 'NotFound' });
    expect(filesIn(join(root, 'acme'))).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
  });

  it.each([
    ['export', `restores/acme/${ID}.tar.gz`, 'an upload as an export'],
    ['restore', `exports/acme/${ID}.tar.gz`, 'an export as an upload'],
    ['restore', `restores/globex/${ID}.tar.gz`, "another tenant's upload"],
    ['export', `exports/globex/${ID}.tar.gz`, "another tenant's export key"],
    ['restore', `restores/acme/../globex/${ID}.tar.gz`, 'a path through another tenant'],
    ['restore', `restores/acme/x/${ID}.tar.gz`, 'a deeper key'],
    ['restore', 'restores/acme/latest.tar.gz', 'an id that is no uuid'],
    ['restore', `restores/acme/${ID}.zip`, 'another extension'],
    ['export', 'cdk-assets/function.zip', 'any other object'],
  ])('refuses to %s with key %j (%s) and calls nothing', async (action, key) => {
    await expect(handler()({ action, tenantId: 'acme', key })).rejects.toThrow(/Refusing/);

    expect(s3.calls()).toHaveLength(0);
    expect(filesIn(join(root, 'acme'))).toEqual({ 'visits.json': '{"visits":3}', 'db/wal/segment': 'x' });
  });
});
