import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/errors.js';
import { dormouse } from '../support/cli.js';

/** An API that answers from a script: each GET of the tenant returns the next state in turn. */
function scriptedApi(states: Record<string, unknown>[]) {
  const calls: string[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${url.pathname}`);
    const body =
      method === 'POST' ? { id: 'acme', phase: 'Passivated', desired: 'running', generation: 3, observedGeneration: 2 } : states.shift();
    return new Response(JSON.stringify(body), { status: method === 'POST' ? 202 : 200, headers: { 'content-type': 'application/json' } });
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

const tenant = (phase: string, observedGeneration: number, reason?: string) => ({
  id: 'acme',
  url: 'http://acme.localhost:8080',
  phase,
  desired: 'running',
  generation: 3,
  observedGeneration,
  ...(reason ? { reason } : {}),
});

describe('--wait', () => {
  const run = (argv: string[], fetch: typeof globalThis.fetch) =>
    dormouse([...argv, '--api', 'http://127.0.0.1:3000'], { env: { DORMOUSE_ADMIN_TOKEN: 'token' }, fetch, pollMs: 10 });

  it('does not take the phase from before the command for the end of it', async () => {
    // Running, but seen before the control plane took up generation 3 (it was about to be
    // passivated): not done until generation 3 is observed.
    const api = scriptedApi([tenant('Running', 2), tenant('Running', 3)]);

    const woken = await run(['wake', 'acme', '--wait'], api.fetch);

    expect(woken.code).toBe(EXIT.ok);
    expect(woken.stderr).toMatch(/^acme: Running\nacme: Running, done \(\d+\.\d s\)\n$/);
    expect(api.calls).toEqual(['POST /tenants/acme/wake', 'GET /tenants/acme', 'GET /tenants/acme']);
  });

  it('ends with status 6 and the reason when the tenant fails, saying where to look', async () => {
    const api = scriptedApi([tenant('Waking', 3), tenant('Failed', 3, 'The application did not start: exit code 1')]);

    const failed = await run(['wake', 'acme', '--wait'], api.fetch);

    expect(failed.code).toBe(EXIT.tenantFailed);
    expect(failed.stderr.trimEnd().split('\n')).toEqual([
      'acme: Waking',
      'acme: Failed - The application did not start: exit code 1',
      'dormouse: Tenant acme failed: The application did not start: exit code 1. See dormouse events acme and dormouse logs acme; dormouse wake acme retries.',
    ]);
  });

  it('ends with status 7 when the tenant is not done within --timeout', async () => {
    const api = scriptedApi(Array.from({ length: 500 }, () => tenant('Waking', 3)));

    const late = await run(['wake', 'acme', '--wait', '--timeout', '1'], api.fetch);

    expect(late.code).toBe(EXIT.timedOut);
    expect(late.stderr).toMatch(
      /^acme: Waking\ndormouse: Tenant acme is still Waking after 1\.\d s: see dormouse events acme, or wait longer with --timeout\.\n$/,
    );
  });
});
