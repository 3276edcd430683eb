import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { create, extract } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { embeddedTestEnv, eventually } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';
/** Export and upload links work this long here, instead of an hour. */
const LINK_TTL_MS = 4_000;

/** GET /whoami through the gateway, as `curl -H 'Host: <id>.localhost'` sends it. */
function whoami(gatewayUrl: string, id: string) {
  const url = new URL(gatewayUrl);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/whoami', headers: { host: `${id}.localhost` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: res.statusCode === 200 ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A `.tar.gz` of `entries` (relative to `cwd`), packed as given, `..` and links included. */
async function archiveOf(cwd: string, entries: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of create({ gzip: true, cwd, preservePaths: true, portable: true }, entries)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('exporting and restoring a tenant’s data in embedded mode, over real HTTP', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  let scratch: string;

  beforeAll(async () => {
    const tables = await createTestTables();
    embedded = await startEmbedded(
      { ...embeddedTestEnv(tables, ADMIN), DORMOUSE_SWEEP_SECONDS: '3600' },
      { onError: () => {}, archiveLinkTtlMs: LINK_TTL_MS },
    );
    call = apiClient(embedded.apiUrl);
    scratch = mkdtempSync(join(tmpdir(), 'dormouse-archives-e2e-'));
  });

  afterAll(async () => {
    await embedded?.stop();
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;
  const reach = (id: string, phase: string) =>
    eventually(
      `${id} ${phase}`,
      () => phaseOf(id),
      (now) => now === phase,
    );
  const admin = (path: string) => call(path, { method: 'POST', token: ADMIN });
  /** Asks for an upload link for `id`, PUTs `archive` there, and restores it. */
  async function restore(id: string, archive: Buffer) {
    const link = await admin(`/tenants/${id}/restore`);
    expect(link.status).toBe(200);
    const put = await fetch(link.body.uploadUrl, { method: 'PUT', body: archive, headers: { 'content-type': 'application/gzip' } });
    expect(put.status).toBe(200);
    return admin(`/tenants/${id}/restore/${link.body.uploadId}`);
  }

  it('exports one tenant’s visits, restores them into another, which counts on from there; refuses a running tenant and a malicious archive', async () => {
    // Prepare: alpha counts three visits; beta runs too.
    const alpha = (await call('/tenants', { method: 'POST', body: { slug: 'alpha', email: 'ann@alpha.test' } })).body;
    await call('/tenants', { method: 'POST', body: { slug: 'beta', email: 'bob@beta.test' } });
    await reach('alpha', 'Running');
    await reach('beta', 'Running');
    for (let visit = 0; visit < 3; visit++) expect((await whoami(embedded.gatewayUrl, 'alpha')).body.visits).toBe(visit + 1);

    // Act: export alpha (its token holder) and download the link.
    const exported = await call('/tenants/alpha/export', { method: 'POST', token: alpha.token });
    const download = await fetch(exported.body.url);
    const archive = Buffer.from(await download.arrayBuffer());

    // Assess: the link is the local API's own, and the archive holds alpha's count.
    expect(exported.status).toBe(200);
    expect(exported.body.url).toMatch(new RegExp(`^${embedded.apiUrl}/exports/[0-9a-f]{32}\\.tar\\.gz$`));
    expect(Date.parse(exported.body.expiresAt) - Date.now()).toBeLessThanOrEqual(LINK_TTL_MS);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/gzip');
    const unpacked = join(scratch, 'alpha-export');
    mkdirSync(unpacked);
    writeFileSync(join(scratch, 'alpha.tar.gz'), archive);
    await extract({ file: join(scratch, 'alpha.tar.gz'), cwd: unpacked });
    expect(JSON.parse(readFileSync(join(unpacked, 'visits.json'), 'utf8'))).toEqual({ visits: 3 });

    // Act and assess: beta runs, so nothing is restored into it.
    const whileRunning = await admin('/tenants/beta/restore/0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(whileRunning.status).toBe(409);
    expect(whileRunning.body.error.message).toMatch(/passivate it first/);

    // Act: passivate beta, restore alpha's archive into it, wake it.
    expect((await admin('/tenants/beta/passivate')).status).toBe(202);
    await reach('beta', 'Passivated');
    const restored = await restore('beta', archive);
    expect((await admin('/tenants/beta/wake')).status).toBe(202);
    await reach('beta', 'Running');
    const afterRestore = await eventually(
      'beta answering',
      () => whoami(embedded.gatewayUrl, 'beta'),
      (answer) => answer.status === 200,
    );

    // Assess: beta counts on from alpha's three visits.
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ id: 'beta', files: 1 });
    expect(afterRestore.body).toMatchObject({ tenant: 'beta', visits: 4 });

    // Prepare: two malicious archives, and beta asleep again.
    const evil = join(scratch, 'evil');
    mkdirSync(evil);
    writeFileSync(join(scratch, 'outside.txt'), 'not the tenant’s');
    symlinkSync('/etc/passwd', join(evil, 'passwd'));
    const malicious = [
      { archive: await archiveOf(evil, ['passwd']), reason: /passwd is a SymbolicLink/ },
      { archive: await archiveOf(evil, ['../outside.txt']), reason: /outside the tenant's directory/ },
    ];
    expect((await admin('/tenants/beta/passivate')).status).toBe(202);
    await reach('beta', 'Passivated');
    const betaDir = join(embedded.tenantData!.dir, 'beta');
    const before = readFileSync(join(betaDir, 'visits.json'), 'utf8');

    for (const { archive: bad, reason } of malicious) {
      // Act
      const refused = await restore('beta', bad);

      // Assess: 400 with the reason; beta's data as it was, nothing staged left behind.
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'archive_rejected', message: expect.stringMatching(reason) });
      expect(readdirSync(betaDir)).toEqual(['visits.json']);
      expect(readFileSync(join(betaDir, 'visits.json'), 'utf8')).toBe(before);
      expect(readdirSync(embedded.tenantData!.dir).sort()).toEqual(['alpha', 'beta']);
    }
    expect(JSON.parse(before)).toEqual({ visits: 4 });
  });

  it('lets an export link expire: 404, and its file removed', async () => {
    // Prepare
    await reach('alpha', 'Running');
    const exported = await call('/tenants/alpha/export', { method: 'POST', token: ADMIN });
    const id = /exports\/([0-9a-f]{32})\.tar\.gz$/.exec(exported.body.url)![1]!;
    const file = join(dirname(embedded.tenantData!.dir), 'exports', `${id}.tar.gz`);
    const fresh = await fetch(exported.body.url);
    await fresh.arrayBuffer();

    // Act
    const expired = await eventually(
      'the export link expired',
      async () => (await fetch(exported.body.url)).status,
      (status) => status !== 200,
      LINK_TTL_MS * 3,
    );

    // Assess
    expect(fresh.status).toBe(200);
    expect(expired).toBe(404);
    expect(existsSync(file)).toBe(false);
  });
});
