import { describe, expect, it, vi } from 'vitest';
import { EXIT } from '../../cli/errors.js';
import { dormouse } from '../support/cli.js';

describe('dormouse --api', () => {
  const answer = () => new Response(JSON.stringify({ items: [] }), { headers: { 'content-type': 'application/json' } });

  it('refuses to send the admin token over plain HTTP to another machine', async () => {
    const fetch = vi.fn(async () => answer());

    const run = await dormouse(['list', '--api', 'http://trials.example.com'], { env: { DORMOUSE_ADMIN_TOKEN: 'admin-secret' }, fetch });

    expect(run.code).toBe(EXIT.refused);
    expect(run.stderr).toContain('plain HTTP');
    expect(fetch).not.toHaveBeenCalled();
  });

  it('sends it over HTTPS, and over plain HTTP on loopback (embedded mode)', async () => {
    const fetch = vi.fn(async (_url: string | URL | Request, _init?: RequestInit) => answer());

    for (const api of ['https://api.trials.example.com', 'http://127.0.0.1:3000', 'http://localhost:3000']) {
      const run = await dormouse(['list', '--api', api], { env: { DORMOUSE_ADMIN_TOKEN: 'admin-secret' }, fetch });
      expect(run.code).toBe(EXIT.ok);
    }
    expect(fetch.mock.calls.map(([url]) => new URL(String(url)).origin)).toEqual([
      'https://api.trials.example.com',
      'http://127.0.0.1:3000',
      'http://localhost:3000',
    ]);
  });
});
