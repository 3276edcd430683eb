import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { updateTenant } from '../../shared/app/update-tenant.js';
import type { KeepWarm } from '../../shared/domain/plans.js';
import type { TenantSpec } from '../../shared/domain/tenant.js';
import { eventually, startTestEmbedded } from '../support/api-server.js';
import { apiClient } from '../support/http.js';

const ADMIN = 'admin-token-for-tests-0123456789';
const ALWAYS: KeepWarm = { timeZone: 'Europe/Paris', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '00:00' };

/** Sleep policies in embedded mode, with real processes: the built-in plans, as `npm start` has them. */
describe('embedded mode, sleep policy per plan', () => {
  let embedded: Embedded;
  let store: Embedded['store'];
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    const started = await startTestEmbedded(ADMIN);
    embedded = started.embedded;
    store = embedded.store;
    call = apiClient(embedded.apiUrl);
  });

  afterAll(async () => {
    await embedded?.stop();
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;

  /** Changes a tenant's spec as an operator's change through the API leaves it (retried over the reconciler's writes). */
  async function operatorSets(id: string, spec: Partial<TenantSpec>): Promise<void> {
    await updateTenant(store, id, (tenant) => ({ tenant: { ...tenant, spec: { ...tenant.spec, ...spec } } }));
  }

  it('passivates an idle trial tenant, and never a pro one or one inside its keep-warm hours', async () => {
    // Prepare
    for (const slug of ['tried', 'paying', 'office']) {
      await call('/tenants', { method: 'POST', body: { slug, email: `ann@${slug}.test` } });
    }
    const allRunning = async () => {
      for (const slug of ['tried', 'paying', 'office']) {
        await eventually(
          `${slug} running`,
          () => phaseOf(slug),
          (phase) => phase === 'Running',
          30_000,
        );
      }
    };
    await allRunning();
    await operatorSets('paying', { plan: 'pro' });
    await operatorSets('office', { keepWarm: ALWAYS });
    // A plan change may replace the task: wait until they serve again.
    await allRunning();

    // Act: idle for well over the trial's timeout, across several sweeps
    const reports = [];
    for (let run = 0; run < 3; run++) {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      reports.push(await embedded.sweepNow());
    }

    // Assess
    expect(reports.reduce((sum, report) => sum + report.passivated, 0)).toBe(1);
    await eventually(
      'tried passivated',
      () => phaseOf('tried'),
      (phase) => phase === 'Passivated',
    );
    for (const slug of ['paying', 'office']) {
      expect(await phaseOf(slug)).toBe('Running');
      expect((await store.get(slug))!.spec.desired).toBe('running');
    }
  });

  it('wakes a sleeping tenant the lead time before its keep-warm hours begin', async () => {
    // Prepare: put to sleep by its owner, then given hours (UTC) that begin in two minutes,
    // within the 5-minute lead, by an operator through the API
    const { token } = (await call('/tenants', { method: 'POST', body: { slug: 'early', email: 'ann@early.test' } })).body;
    await eventually(
      'early running',
      () => phaseOf('early'),
      (phase) => phase === 'Running',
      30_000,
    );
    expect((await call('/tenants/early/passivate', { method: 'POST', token })).status).toBe(202);
    await eventually(
      'early passivated',
      () => phaseOf('early'),
      (phase) => phase === 'Passivated',
    );
    const opens = new Date(Date.now() + 2 * 60_000);
    const clock = (date: Date) => date.toISOString().slice(11, 16);
    const day = (['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const)[opens.getUTCDay()]!;
    const keepWarm = { timeZone: 'UTC', days: [day], from: clock(opens), to: clock(new Date(opens.getTime() + 3_600_000)) };
    expect((await call('/tenants/early', { method: 'PATCH', token: ADMIN, body: { keepWarm } })).status).toBe(200);

    // Act
    const report = await embedded.sweepNow();

    // Assess
    expect(report.warmed).toBe(1);
    await eventually(
      'early woken',
      () => phaseOf('early'),
      (phase) => phase === 'Running',
      30_000,
    );
    expect((await store.get('early'))!.warmAt).toBeUndefined();
  });
});
