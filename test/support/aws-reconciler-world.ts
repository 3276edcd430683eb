import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import type { ReconcileDeps } from '../../shared/app/reconcile.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { AwsModel } from './aws-model.js';
import { awsAdaptersOver, TEST_TIMINGS } from './aws-adapters.js';
import { createTestTables } from './dynamodb.js';
import { ManualClock, testSettings } from './reconciler-world.js';

/**
 * The reconcile use case wired as the Lambda wires it (the real ECS, ELBv2 and, with a data
 * path, EFS adapters) over the AWS model and DynamoDB Local, on a clock the test moves; tenant
 * `acme` has signed up on the trial plan. Handover is stop-first, as with a data path.
 */
export async function createAwsWorld({ installation, persistentData }: { installation: string; persistentData: boolean }) {
  const tables = await createTestTables();
  const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
  const clock = new ManualClock();
  const model = new AwsModel({ now: () => clock.now().getTime(), timings: TEST_TIMINGS });
  const { compute, routing, storage } = awsAdaptersOver(model, installation);
  const deps: ReconcileDeps = {
    store,
    compute,
    routing,
    ...(persistentData ? { storage } : {}),
    clock,
    // No task events reach the record here: every look asks the model, as it did before events drove the waits.
    settings: { ...testSettings, persistentData, handover: 'stop-first', eventTrustMs: 0 },
  };
  await store.create(
    newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: '0'.repeat(64), now: clock.now(), trialDays: 14 }),
    { maxTenants: 10 },
  );
  return { store, clock, model, deps };
}
