import { beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiHandler } from '../../shared/http/api.js';
import type { ApiDepsWithArchives } from '../../shared/adapters/aws/composition/api.js';
import { apiEvent, body, context } from '../support/api-events.js';
import type { DataArchives } from '../../shared/ports/storage.js';
import { lambdaApiDeps } from '../support/api-lambda.js';

const OPS = 'arn:aws:iam::123456789012:user/ops';

/** What the handler asked the archives, and fixed answers. */
const calls: string[] = [];
const archives: DataArchives = {
  exportData: async (tenantId) => {
    calls.push(`export ${tenantId}`);
    return { url: `https://exports.example.com/${tenantId}.tar.gz?sig=x`, expiresAt: '2026-11-21T11:00:00.000Z' };
  },
  uploadLink: async (tenantId) => {
    calls.push(`uploadLink ${tenantId}`);
    return {
      url: 'https://uploads.example.com/u?sig=y',
      expiresAt: '2026-11-21T11:00:00.000Z',
      uploadId: '0f8fad5b-d9cb-469f-a165-70867728950e',
    };
  },
  restoreData: async (tenantId, uploadId) => {
    calls.push(`restore ${tenantId} ${uploadId}`);
    return { files: 2, bytes: 4108 };
  },
};

let handler: ApiHandler;
let stateless: ApiHandler;
let deps: ApiDepsWithArchives;

beforeAll(async () => {
  deps = await lambdaApiDeps({ DORMOUSE_ADMIN_PRINCIPALS: OPS });
  handler = createApiHandler({ ...deps, archives });
  stateless = createApiHandler(deps);
});

async function signUp(slug: string): Promise<string> {
  const response = await handler(apiEvent('POST', '/tenants', { body: { slug, email: `ann@${slug}.test` } }), context());
  return body(response).token;
}

/** Puts the tenant where a finished passivation leaves it. */
async function passivated(slug: string): Promise<void> {
  const tenant = (await deps.store.get(slug))!;
  await deps.store.save({
    ...tenant,
    spec: { ...tenant.spec, desired: 'passivated', generation: tenant.spec.generation + 1 },
    status: { ...tenant.status, phase: 'Passivated', observedGeneration: tenant.spec.generation + 1 },
  });
}

describe('the API’s export and restore routes', () => {
  it('gives the token holder an export link, and refuses no token (401) and another tenant’s token (403)', async () => {
    // Prepare
    const token = await signUp('export-me');
    const other = await signUp('someone-else');
    calls.length = 0;

    // Act
    const exported = await handler(apiEvent('POST', '/tenants/export-me/export', { token }), context());
    const anonymous = await handler(apiEvent('POST', '/tenants/export-me/export'), context());
    const foreign = await handler(apiEvent('POST', '/tenants/export-me/export', { token: other }), context());
    const unknown = await handler(apiEvent('POST', '/tenants/no-such-tenant/export', { token }), context());

    // Assess
    expect(exported.statusCode).toBe(200);
    expect(body(exported)).toEqual({ url: 'https://exports.example.com/export-me.tar.gz?sig=x', expiresAt: '2026-11-21T11:00:00.000Z' });
    expect(exported.headers?.['cache-control']).toBe('no-store');
    expect(anonymous.statusCode).toBe(401);
    expect(foreign.statusCode).toBe(403);
    expect(unknown.statusCode).toBe(404);
    expect(body(unknown).error).toEqual({ code: 'not_found', message: 'There is no tenant "no-such-tenant".' });
    expect(calls).toEqual(['export export-me']);
  });

  it('lets only an admin restore: an upload link, then the restore of what was uploaded', async () => {
    // Prepare
    const token = await signUp('restore-me');
    await passivated('restore-me');
    calls.length = 0;

    // Act
    const byOwner = await handler(apiEvent('POST', '/tenants/restore-me/restore', { token }), context());
    const link = await handler(apiEvent('POST', '/admin/tenants/restore-me/restore', { iamUser: OPS }), context());
    const { uploadId } = body(link);
    const restored = await handler(apiEvent('POST', `/admin/tenants/restore-me/restore/${uploadId}`, { iamUser: OPS }), context());

    // Assess
    expect(byOwner.statusCode).toBe(403);
    expect(link.statusCode).toBe(200);
    expect(body(link)).toEqual({
      uploadUrl: 'https://uploads.example.com/u?sig=y',
      expiresAt: '2026-11-21T11:00:00.000Z',
      uploadId: '0f8fad5b-d9cb-469f-a165-70867728950e',
    });
    expect(restored.statusCode).toBe(200);
    expect(body(restored)).toEqual({ id: 'restore-me', files: 2, bytes: 4108 });
    expect(calls).toEqual(['uploadLink restore-me', 'restore restore-me 0f8fad5b-d9cb-469f-a165-70867728950e']);
    expect((await deps.store.get('restore-me'))!.lease).toBeUndefined();
  });

  it('refuses an uploadId that is not one we issue, before anything is read', async () => {
    // Prepare
    await signUp('bad-upload');
    await passivated('bad-upload');
    calls.length = 0;

    // Act
    const response = await handler(apiEvent('POST', '/admin/tenants/bad-upload/restore/..%2F..%2Fetc', { iamUser: OPS }), context());

    // Assess
    expect(response.statusCode).toBe(400);
    expect(body(response).error).toMatchObject({ code: 'invalid_request', fields: { uploadId: 'is not an uploadId we issue' } });
    expect(calls).toEqual([]);
  });

  it('answers 409 with what to do when the tenant is not asleep', async () => {
    // Prepare
    await signUp('still-awake');
    calls.length = 0;

    // Act
    const response = await handler(
      apiEvent('POST', '/admin/tenants/still-awake/restore/0f8fad5b-d9cb-469f-a165-70867728950e', { iamUser: OPS }),
      context(),
    );

    // Assess
    expect(response.statusCode).toBe(409);
    expect(body(response).error).toEqual({
      code: 'tenant_awake',
      message:
        'Tenant "still-awake" is Pending (desired: running); passivate it first (POST /tenants/still-awake/passivate) and restore once it is Passivated.',
    });
    expect(calls).toEqual([]);
  });

  it('answers 404 no_data on every route when the installation keeps no tenant data', async () => {
    // Prepare
    const token = await signUp('stateless');

    // Act
    const responses = await Promise.all([
      stateless(apiEvent('POST', '/tenants/stateless/export', { token }), context()),
      stateless(apiEvent('POST', '/admin/tenants/stateless/restore', { iamUser: OPS }), context()),
      stateless(apiEvent('POST', '/admin/tenants/stateless/restore/0f8fad5b-d9cb-469f-a165-70867728950e', { iamUser: OPS }), context()),
    ]);

    // Assess
    for (const response of responses) {
      expect(response.statusCode).toBe(404);
      expect(body(response).error).toEqual({
        code: 'no_data',
        message: 'This installation keeps no tenant data (no data path is set), so there is nothing to export or restore.',
      });
    }
  });
});
