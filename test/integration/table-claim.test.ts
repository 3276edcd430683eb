import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../shared/adapters/aws/tenant-table.js';
import { startEmbedded } from '../../shared/adapters/local/embedded.js';
import { StartError } from '../../shared/adapters/local/start-error.js';
import { CLAIM_RENEW_MS, CLAIM_STALE_MS, claimTable, type TableClaim } from '../../shared/adapters/local/table-claim.js';
import { embeddedTestEnv } from '../support/api-server.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';

const KEY = { pk: keys.marker('embedded-run') };

let tables: TestTables;
const claims: TableClaim[] = [];

const claim = async (onLost: (error: Error) => void = () => {}) => {
  const made = await claimTable({ client: tables.documentClient, tableName: tables.tenantTable, onLost });
  claims.push(made);
  return made;
};

/** A claim as another run would have left it. */
const holder = (fields: { pid: number; host: string; renewedAt: number; runId?: string }) =>
  tables.documentClient.send(
    new PutCommand({ TableName: tables.tenantTable, Item: { ...KEY, kind: 'marker', runId: 'another-run', ...fields } }),
  );

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

beforeEach(async () => {
  tables = await createTestTables();
});

afterEach(async () => {
  vi.useRealTimers();
  for (const made of claims.splice(0)) await made.release();
  await tables.client.send(new DeleteTableCommand({ TableName: tables.tenantTable }));
  await tables.client.send(new DeleteTableCommand({ TableName: tables.idempotencyTable }));
  tables.client.destroy();
});

describe('the embedded run claim on its tenant table', () => {
  it('refuses a second run, naming the first, and lets one in once the first has given the table up', async () => {
    const first = await claim();
    const refused = await claim().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StartError);
    expect((refused as StartError).variable).toBe('DORMOUSE_TABLE_NAME');
    expect((refused as Error).message).toContain(
      `table ${tables.tenantTable} is in use by another Dormouse run (process ${process.pid} on ${hostname()}`,
    );

    await first.release();
    await expect(claim()).resolves.toBeDefined();
  });

  it('takes over from a run of this machine that is gone, or one not seen for 30 s; not from a live one elsewhere', async () => {
    await holder({ pid: await deadPid(), host: hostname(), renewedAt: Date.now() });
    await expect(claim()).resolves.toBeDefined();
    await claims.pop()!.release();

    await holder({ pid: 1, host: 'elsewhere', renewedAt: Date.now() - CLAIM_STALE_MS - 1_000 });
    await expect(claim()).resolves.toBeDefined();
    await claims.pop()!.release();

    await holder({ pid: 1, host: 'elsewhere', renewedAt: Date.now() - 2_000 });
    await expect(claim()).rejects.toThrow('(process 1 on elsewhere, seen 2 s ago)');
  });

  it('renews the claim, and says so when another run has taken the table over', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const lost: Error[] = [];
    await claim((error) => lost.push(error));
    const renewedAt = async () =>
      (
        (await tables.documentClient.send(new GetCommand({ TableName: tables.tenantTable, Key: KEY, ConsistentRead: true }))).Item as {
          renewedAt: number;
        }
      ).renewedAt;
    const first = await renewedAt();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await vi.advanceTimersByTimeAsync(CLAIM_RENEW_MS);
    await vi.waitFor(async () => expect(await renewedAt()).toBeGreaterThan(first));

    await holder({ pid: 1, host: 'elsewhere', renewedAt: Date.now() });
    await vi.advanceTimersByTimeAsync(CLAIM_RENEW_MS);
    await vi.waitFor(() =>
      expect(lost.map((error) => error.message)).toEqual([
        `Another Dormouse run took over table ${tables.tenantTable}: stop one of the two.`,
      ]),
    );
  });

  it('keeps a second embedded run off the table of a first, which goes on serving', async () => {
    const env = { ...embeddedTestEnv(tables), DORMOUSE_GATEWAY_PORT: '8080' };
    const first = await startEmbedded(env, { apiOnly: true });
    try {
      await expect(startEmbedded(env, { apiOnly: true })).rejects.toThrow(`DORMOUSE_TABLE_NAME: table ${tables.tenantTable} is in use`);
      expect((await fetch(`${first.apiUrl}/healthz`)).status).toBe(200);
    } finally {
      await first.stop();
    }
    const second = await startEmbedded(env, { apiOnly: true });
    await second.stop();
  });
});
