import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectoryStorage } from '../../shared/adapters/local/directory-storage.js';
import { LocalDataArchives } from '../../shared/adapters/local/local-archives.js';

const servers: Server[] = [];
const archivesMade: LocalDataArchives[] = [];

afterEach(async () => {
  for (const archives of archivesMade.splice(0)) archives.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Local archives over a data root with tenants `acme` and `globex`, served as the local API serves them. */
async function serving(options: { maxUploadBytes?: number; linkTtlMs?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'dormouse-local-archives-'));
  const storage = new DirectoryStorage(root);
  const { tenantsDir } = storage;
  mkdirSync(join(tenantsDir, 'acme'), { recursive: true });
  writeFileSync(join(tenantsDir, 'acme', 'visits.json'), '{"visits":2}');
  let origin = '';
  const archives = new LocalDataArchives({
    root,
    storage,
    apiOrigin: () => origin,
    ...(options.linkTtlMs ? { linkTtlMs: options.linkTtlMs } : {}),
    limits: { maxUnpackedBytes: 1_048_576, maxEntries: 100, maxUploadBytes: options.maxUploadBytes ?? 1_048_576 },
  });
  archivesMade.push(archives);
  await archives.prepare();
  const server = createServer((req, res) => {
    void archives.serve(req, res).then((answered) => {
      if (!answered) res.writeHead(418).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { root, tenantsDir, storage, archives, origin };
}

/** A PUT whose body is sent in chunks, with no Content-Length, as `curl -T -` sends a pipe. */
function putChunked(url: string, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The server may answer and close before the whole body is sent.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('local data archives', () => {
  it('refuses an upload larger than the limit with 413, by its Content-Length or while it streams, and keeps nothing of it', async () => {
    // Prepare
    const { archives, root } = await serving({ maxUploadBytes: 1_000 });
    const declared = await archives.uploadLink('acme');
    const streamed = await archives.uploadLink('acme');

    // Act
    const byLength = await fetch(declared.url, { method: 'PUT', body: Buffer.alloc(1_001) });
    const byCounting = await putChunked(streamed.url, [Buffer.alloc(600), Buffer.alloc(600)]);

    // Assess
    expect(byLength.status).toBe(413);
    expect(((await byLength.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect(byCounting.status).toBe(413);
    expect(readdirSync(join(root, 'uploads'))).toEqual([]);
  });

  it('takes an upload only for a link it issued and has not expired, once, and restores it only into its own tenant', async () => {
    // Prepare
    const { archives, origin } = await serving();
    const link = await archives.uploadLink('acme');
    const archive = Buffer.from(await (await fetch((await archives.exportData('acme')).url)).arrayBuffer());

    // Act
    const unknown = await fetch(`${origin}/uploads/0f8fad5b-d9cb-469f-a165-70867728950e`, { method: 'PUT', body: archive });
    const first = await fetch(link.url, { method: 'PUT', body: archive });
    const again = await fetch(link.url, { method: 'PUT', body: archive });
    const intoAnother = await archives.restoreData('globex', link.uploadId).catch((error: unknown) => error);
    const restored = await archives.restoreData('acme', link.uploadId);
    const twice = await archives.restoreData('acme', link.uploadId).catch((error: unknown) => error);

    // Assess
    expect(unknown.status).toBe(404);
    expect(first.status).toBe(200);
    expect(again.status).toBe(409);
    expect(intoAnother).toMatchObject({ status: 404, message: expect.stringMatching(/Nothing was uploaded for tenant "globex"/) });
    expect(restored).toEqual({ files: 1, bytes: 12 });
    expect(twice).toMatchObject({ status: 404 });
  });

  it('forgets an upload link once it expires: the PUT is refused and nothing can be restored', async () => {
    // Prepare
    const { archives } = await serving({ linkTtlMs: 50 });
    const link = await archives.uploadLink('acme');
    await new Promise((resolve) => setTimeout(resolve, 100));

    // Act
    const put = await fetch(link.url, { method: 'PUT', body: Buffer.from('late') });
    const restore = await archives.restoreData('acme', link.uploadId).catch((error: unknown) => error);

    // Assess
    expect(put.status).toBe(404);
    expect(restore).toMatchObject({ status: 404 });
  });

  it('removes what an earlier run left when it starts again', async () => {
    // Prepare
    const { archives, root, storage } = await serving();
    await archives.exportData('acme');
    const again = new LocalDataArchives({ root, storage, apiOrigin: () => 'http://127.0.0.1:1' });

    // Act
    await again.prepare();

    // Assess
    expect(readdirSync(join(root, 'exports'))).toEqual([]);
    expect(existsSync(join(root, 'uploads'))).toBe(true);
  });
});
