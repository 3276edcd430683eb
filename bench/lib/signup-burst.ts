import { performance } from 'node:perf_hooks';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { modelTransactionConflicts } from '../../test/support/transaction-conflicts.js';
import { apiCaller } from './api.js';
import type { BenchTables } from './dynamodb.js';

export interface SignupBurstResult {
  signups: number;
  admitted: number;
  /** Answers other than an admission, by error name (TenantCeilingError is the expected refusal). */
  refused: Record<string, number>;
  /** Transactions cancelled by the conflict model, of all transactions sent. */
  conflicts: number;
  transactions: number;
  p50Ms: number;
  p95Ms: number;
  wallMs: number;
}

export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

function summary(latencies: number[], wallMs: number) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95), wallMs };
}

/**
 * `signups` creates at once through the tenant store, as the signup use case calls it, on
 * fresh tables whose client cancels transactions that meet on an item as DynamoDB does
 * (unless `conflicts` is false: plain DynamoDB Local). `ceilingShares` 1 is the single
 * counter item of before the split.
 */
export async function storeSignupBurst(
  tables: BenchTables,
  {
    signups,
    maxTenants,
    ceilingShares,
    conflicts = true,
  }: { signups: number; maxTenants: number; ceilingShares?: number; conflicts?: boolean },
): Promise<SignupBurstResult> {
  const model = conflicts ? modelTransactionConflicts(tables.client) : { conflicts: () => 0, transactions: () => 0 };
  const store = new DynamoDbTenantStore({
    tableName: tables.tenantTable,
    client: tables.documentClient,
    ...(ceilingShares ? { ceilingShares } : {}),
  });
  const now = new Date();
  const latencies: number[] = [];
  const refused: Record<string, number> = {};
  let admitted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: signups }, async (_, index) => {
      const slug = `signup-${String(index).padStart(4, '0')}`;
      const tenant = newTenant({ slug, email: `${slug}@example.test`, plan: 'trial', tokenHash: `hash-${slug}`, now, trialDays: 14 });
      const begun = performance.now();
      try {
        await store.create(tenant, { maxTenants });
        admitted += 1;
      } catch (error) {
        const name = (error as Error).name ?? 'Error';
        refused[name] = (refused[name] ?? 0) + 1;
      }
      latencies.push(performance.now() - begun);
    }),
  );
  return {
    signups,
    admitted,
    refused,
    conflicts: model.conflicts(),
    transactions: model.transactions(),
    ...summary(latencies, performance.now() - started),
  };
}

/**
 * `signups` POST /tenants through the API handler, `concurrent` at a time, on DynamoDB Local as
 * the embedded mode runs it (no conflict model: DynamoDB Local runs transactions one at a time).
 */
export async function apiSignupBurst(
  tables: BenchTables,
  { signups, concurrent, prefix }: { signups: number; concurrent: number; prefix: string },
): Promise<Omit<SignupBurstResult, 'conflicts' | 'transactions'>> {
  const api = apiCaller({
    dynamoClient: tables.client,
    tenantTable: tables.tenantTable,
    idempotencyTable: tables.idempotencyTable,
    maxTenants: signups,
  });
  const latencies: number[] = [];
  const refused: Record<string, number> = {};
  let admitted = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrent }, async () => {
      while (next < signups) {
        const slug = `${prefix}-${String(next++).padStart(4, '0')}`;
        const begun = performance.now();
        const answer = await api('POST', '/tenants', { body: { slug, email: `${slug}@example.test` } });
        latencies.push(performance.now() - begun);
        if (answer.status === 202) admitted += 1;
        else {
          const code = `${answer.status} ${(answer.body.error as { code?: string } | undefined)?.code ?? ''}`.trim();
          refused[code] = (refused[code] ?? 0) + 1;
        }
      }
    }),
  );
  return { signups, admitted, refused, ...summary(latencies, performance.now() - started) };
}
