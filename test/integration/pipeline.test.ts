import { afterEach, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../shared/adapters/local/control-plane.js';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { costPrices } from '../../shared/domain/prices.js';
import { systemClock } from '../../shared/ports/clock.js';
import type { DomainEvent } from '../../shared/ports/events.js';
import { createTestTables } from '../support/dynamodb.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { apiClient } from '../support/http.js';
import { testSettings } from '../support/reconciler-world.js';

const ADMIN = 'admin-token-for-tests-0123456789';

/**
 * The whole event flow of the design with only the cloud faked: a signup through the HTTP API,
 * the table's stream read by the publisher's code, domain events on a bus, "Tenant Changed"
 * driving the reconciler, and task state changes recorded as actual state.
 */
describe('signup to Running through the event flow', () => {
  let embedded: Embedded | undefined;
  let controlPlane: ControlPlane | undefined;
  let ticker: NodeJS.Timeout | undefined;

  afterEach(async () => {
    clearInterval(ticker);
    await controlPlane?.stop();
    await embedded?.stop();
  });

  async function start() {
    const tables = await createTestTables();
    embedded = await startEmbedded(
      {
        DORMOUSE_API_PORT: '0',
        DORMOUSE_DYNAMODB_ENDPOINT: tables.endpoint,
        DORMOUSE_TABLE_NAME: tables.tenantTable,
        DORMOUSE_IDEMPOTENCY_TABLE_NAME: tables.idempotencyTable,
        DORMOUSE_ADMIN_TOKEN: ADMIN,
      },
      { apiOnly: true },
    );
    const cloud = new FakeCloud();
    // The control plane elsewhere in this process shares the API's store, as embedded mode's own does.
    const store = embedded.store;
    const events: DomainEvent[] = [];
    let delivered = 0;
    controlPlane = await startControlPlane({
      dynamoClient: tables.client,
      dynamoEndpoint: tables.endpoint,
      store,
      prices: costPrices('x86_64'),
      reconcileDeps: { compute: cloud, routing: cloud, clock: systemClock, settings: { ...testSettings, pollMs: 100, backoffBaseMs: 100 } },
      onTaskEvent: (listener) => {
        // ECS → EventBridge → task-events handler, every change in order.
        ticker = setInterval(() => {
          cloud.tick();
          for (; delivered < cloud.events.length; delivered++) listener(cloud.events[delivered]!);
        }, 50);
      },
      onEvent: (event) => events.push(event),
      onError: (context, error) => {
        throw new Error(`${context}: ${String(error)}`);
      },
    });
    return { cloud, store, events, call: apiClient(embedded.apiUrl) };
  }

  /** Polls the API until the tenant reports `phase`. */
  async function waitForPhase(call: ReturnType<typeof apiClient>, id: string, phase: string) {
    await expect
      .poll(async () => (await call(`/tenants/${id}`)).body.phase, { timeout: 20_000, interval: 100, message: `${id}'s phase` })
      .toBe(phase);
  }

  it('ends Running with exactly one task and one rule, announcing Requested then Ready', async () => {
    const { cloud, events, call } = await start();

    const signup = await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'ann@acme.test' } });
    expect(signup.status).toBe(202);
    await waitForPhase(call, 'acme', 'Running');

    expect(cloud.liveTasksOf('acme')).toHaveLength(1);
    expect([...cloud.rules.values()].map((rule) => rule.host)).toEqual(['acme.trials.example.com']);
    await expect.poll(() => events.some((event) => event.detailType === 'Tenant Ready'), { timeout: 5_000 }).toBe(true);
    const lifecycle = events.filter((event) => event.detailType !== 'Tenant Changed').map((event) => event.detailType);
    expect(lifecycle).toEqual(['Tenant Requested', 'Tenant Ready']);
    expect(events.find((event) => event.detailType === 'Tenant Requested')!.detail.email).toBe('ann@acme.test');
  });

  it('passivates, wakes and deletes through the API, leaving nothing behind', async () => {
    const { cloud, events, call } = await start();
    const { token } = (await call('/tenants', { method: 'POST', body: { slug: 'acme', email: 'ann@acme.test' } })).body;
    await waitForPhase(call, 'acme', 'Running');

    await call('/tenants/acme/passivate', { method: 'POST', token });
    await waitForPhase(call, 'acme', 'Passivated');
    expect(cloud.liveTasksOf('acme')).toHaveLength(0);
    expect(cloud.rules.size).toBe(0);

    await call('/tenants/acme/wake', { method: 'POST', token });
    await waitForPhase(call, 'acme', 'Running');

    await call('/tenants/acme', { method: 'DELETE', token });
    await waitForPhase(call, 'acme', 'Deleted');
    expect(cloud.liveTasksOf('acme').length + cloud.rules.size + cloud.targetGroups.size).toBe(0);
    // The last event follows the last write through the stream, a moment later.
    await expect.poll(() => events.some((event) => event.detailType === 'Tenant Deleted'), { timeout: 5_000 }).toBe(true);
    const lifecycle = events.filter((event) => event.detailType !== 'Tenant Changed').map((event) => event.detailType);
    expect(lifecycle).toEqual(['Tenant Requested', 'Tenant Ready', 'Tenant Passivated', 'Tenant Woken', 'Tenant Deleted']);
  });
});
