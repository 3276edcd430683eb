import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { eventually, startTestEmbedded } from '../support/api-server.js';
import { apiClient } from '../support/http.js';
import { keptAliveClient } from '../support/local.js';

const ADMIN = 'admin-token-for-tests-0123456789';

describe('embedded mode: a visitor that keeps its connection open', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    ({ embedded } = await startTestEmbedded(ADMIN));
    call = apiClient(embedded.apiUrl);
  });
  afterAll(async () => {
    await embedded?.stop();
  });

  const phaseOf = async (id: string) => (await call(`/tenants/${id}`)).body.phase as string;

  it('does not keep the tenant awake with an idle connection: the tenant sleeps, and the next visit gets the waking page', async () => {
    // Prepare: idler runs, and a browser got a page from it and keeps its connection.
    await call('/tenants', { method: 'POST', body: { slug: 'idler', email: 'i@idler.test' } });
    await eventually(
      'idler running',
      () => phaseOf('idler'),
      (phase) => phase === 'Running',
    );
    const browser = keptAliveClient(new URL(embedded.gatewayUrl).host);
    try {
      const page = await browser.get('/whoami', { host: 'idler.localhost' });
      expect(page.status).toBe(200);

      // Act: the first sweep sees the request; the next one, past the 1 s idle timeout, sees none.
      expect((await embedded.sweepNow()).active).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const report = await embedded.sweepNow();
      const openDuringSweep = !page.socket.destroyed;

      // Assess: the connection was open all along, and the tenant was put to sleep all the same.
      expect(openDuringSweep).toBe(true);
      expect(report).toMatchObject({ active: 0, passivated: 1 });
      await eventually(
        'idler asleep',
        () => phaseOf('idler'),
        (phase) => phase === 'Passivated',
      );
      const waking = await browser.get('/whoami', { host: 'idler.localhost', headers: { accept: 'text/html' } });
      expect(waking.status).toBe(503);
      expect(waking.headers['retry-after']).toBe('5');
      expect(waking.body).toMatch(/Waking up idler/);
    } finally {
      browser.close();
    }
  });
});
