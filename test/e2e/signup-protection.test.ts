import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../shared/adapters/local/embedded.js';
import { VERIFY_ATTEMPTS_PER_HOUR } from '../../shared/app/verify-email.js';
import { embeddedTestEnv, eventually, startTestApi } from '../support/api-server.js';
import { createTestTables } from '../support/dynamodb.js';
import { apiClient } from '../support/http.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/**
 * POST /tenants from a chosen loopback address: 127.0.0.1 and 127.0.0.2 are two clients as far
 * as the API's socket can tell.
 */
function signupFrom(apiUrl: string, localAddress: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(apiUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/tenants',
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

let counter = 0;
const fresh = () => {
  counter += 1;
  return { slug: `p${counter}-x`, email: `person${counter}@example.test` };
};

describe('the per-client signup limit', () => {
  let embedded: Embedded;
  beforeAll(async () => {
    ({ embedded } = await startTestApi({ DORMOUSE_SIGNUPS_PER_HOUR: '20' }));
  });
  afterAll(() => embedded?.stop());

  it('answers the 21st signup from one address with 429 rate_limited and Retry-After; another address still gets in', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 21; i++) answers.push(await signupFrom(embedded.apiUrl, '127.0.0.1', fresh()));
    // A client-supplied X-Forwarded-For is not trusted by default: it does not make a new client.
    const spoofed = await signupFrom(embedded.apiUrl, '127.0.0.1', fresh(), { 'x-forwarded-for': '203.0.113.9' });
    const other = await signupFrom(embedded.apiUrl, '127.0.0.2', fresh());

    expect(answers.slice(0, 20).map((answer) => answer.status)).toEqual(Array(20).fill(202));
    const refused = answers[20]!;
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(spoofed.status).toBe(429);
    expect(other.status).toBe(202);
  });

  it('cannot be passed by concurrent signups', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => signupFrom(embedded.apiUrl, '127.0.0.3', fresh())));

    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(20);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(10);
  });
});

describe('the per-client signup limit with Idempotency-Keys', () => {
  let embedded: Embedded;
  beforeAll(async () => {
    ({ embedded } = await startTestApi({ DORMOUSE_SIGNUPS_PER_HOUR: '2' }));
  });
  afterAll(() => embedded?.stop());

  it('does not count a replay, and refuses a new key past the limit with Retry-After', async () => {
    const first = fresh();
    const key = (n: number) => ({ 'idempotency-key': `signup-attempt-${n}-0123456789` });
    const answers = [
      await signupFrom(embedded.apiUrl, '127.0.0.4', first, key(1)),
      await signupFrom(embedded.apiUrl, '127.0.0.4', first, key(1)),
      await signupFrom(embedded.apiUrl, '127.0.0.4', fresh(), key(2)),
      await signupFrom(embedded.apiUrl, '127.0.0.4', fresh(), key(3)),
    ];

    expect(answers.map((answer) => answer.status)).toEqual([202, 202, 202, 429]);
    expect(answers[1]!.body).toEqual(answers[0]!.body);
    expect(answers[3]!.body.error.code).toBe('rate_limited');
    expect(Number(answers[3]!.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('the per-client signup limit behind a trusted proxy', () => {
  let embedded: Embedded;
  beforeAll(async () => {
    ({ embedded } = await startTestApi({ DORMOUSE_SIGNUPS_PER_HOUR: '1', DORMOUSE_TRUST_FORWARDED_FOR: 'true' }));
  });
  afterAll(() => embedded?.stop());

  it('counts the address the proxy appended to X-Forwarded-For, not the entries the client sent', async () => {
    const first = await signupFrom(embedded.apiUrl, '127.0.0.1', fresh(), { 'x-forwarded-for': '198.51.100.1' });
    const again = await signupFrom(embedded.apiUrl, '127.0.0.1', fresh(), { 'x-forwarded-for': '203.0.113.5, 198.51.100.1' });
    const otherClient = await signupFrom(embedded.apiUrl, '127.0.0.1', fresh(), { 'x-forwarded-for': '198.51.100.2' });

    expect([first.status, again.status, otherClient.status]).toEqual([202, 429, 202]);
  });
});

describe('one trial per email address', () => {
  let embedded: Embedded;
  beforeAll(async () => {
    ({ embedded } = await startTestApi());
  });
  afterAll(() => embedded?.stop());

  it.each([
    ['ann+1@example.com', 'ann@example.com'],
    ['A.N.N+trial@googlemail.com', 'ann@gmail.com'],
  ])('refuses %s after %s', async (second, first) => {
    const call = apiClient(embedded.apiUrl);
    const one = await call('/tenants', { method: 'POST', body: { slug: fresh().slug, email: first } });
    const two = await call('/tenants', { method: 'POST', body: { slug: fresh().slug, email: second } });

    expect(one.status).toBe(202);
    expect(two.status).toBe(429);
    expect(two.body.error.code).toBe('trial_exists');
  });
});

describe('email verification, end to end in embedded mode', () => {
  let embedded: Embedded;
  let call: ReturnType<typeof apiClient>;
  const mail: string[] = [];
  const originalLog = console.log;

  beforeAll(async () => {
    // The outbox prints each mail to the terminal; the test reads what it prints.
    console.log = (...args: unknown[]) => {
      const line = args.map(String).join(' ');
      if (line.startsWith('[mail]')) mail.push(line);
      else originalLog(...args);
    };
    const tables = await createTestTables();
    embedded = await startEmbedded(
      {
        ...embeddedTestEnv(tables),
        DORMOUSE_VERIFY_EMAIL: 'true',
        DORMOUSE_SWEEP_SECONDS: '3600',
        // Stands for the proxy in front of the API, so the test can speak as several clients.
        DORMOUSE_TRUST_FORWARDED_FOR: 'true',
      },
      { onError: () => {} },
    );
    call = apiClient(embedded.apiUrl);
  });
  afterAll(async () => {
    console.log = originalLog;
    await embedded?.stop();
  });

  it('starts nothing until the mailed link is opened, then runs the trial', async () => {
    // Signup: recorded as waiting, and a link goes to the outbox.
    const signup = await call('/tenants', { method: 'POST', body: { slug: 'verify-me', email: 'Vera+x@Example.test' } });
    expect(signup.status).toBe(202);
    expect(signup.body).toMatchObject({ id: 'verify-me', phase: 'PendingVerification' });

    const outbox = await call('/outbox', { headers: { accept: 'application/json' } });
    expect(outbox.status).toBe(200);
    const [message] = outbox.body.messages;
    expect(message).toMatchObject({ to: 'vera+x@example.test', subject: 'Confirm your trial "verify-me"' });
    const link = /http:\/\/\S+\/verify\?\S+/.exec(message.text)?.[0];
    expect(link).toMatch(new RegExp(`^${embedded.apiUrl}/verify\\?tenant=verify-me&code=[A-Za-z0-9_-]{32}$`));
    expect(mail.some((line) => line.includes(link!))).toBe(true);
    const htmlOutbox = await fetch(`${embedded.apiUrl}/outbox`);
    expect(await htmlOutbox.text()).toContain(`<a href="${link!.replaceAll('&', '&#38;')}">`);

    // Waiting: the reconciler leaves it alone and commands are refused. The pause is time in
    // which the event flow would have started the tenant, were it going to.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await call('/tenants/verify-me')).body.phase).toBe('PendingVerification');
    const wake = await call('/tenants/verify-me/wake', { method: 'POST', token: signup.body.token });
    expect(wake.status).toBe(409);
    expect(wake.body.error.code).toBe('verification_pending');

    // A wrong code changes nothing.
    const wrong = await fetch(`${embedded.apiUrl}/verify?tenant=verify-me&code=${'A'.repeat(32)}`);
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('This link does not work');
    expect((await call('/tenants/verify-me')).body.phase).toBe('PendingVerification');

    // The link: a small page, and the trial starts.
    const opened = await fetch(link!);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('content-type')).toMatch(/^text\/html/);
    expect(opened.headers.get('cache-control')).toBe('no-store');
    expect(await opened.text()).toContain('Your trial is starting');
    await eventually(
      'the verified tenant',
      async () => (await call('/tenants/verify-me')).body.phase,
      (phase) => phase === 'Running',
    );

    // Opened again: it says so, and changes nothing.
    const again = await fetch(link!);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('Already confirmed');
  }, 60_000);

  it('lets no stranger lock the owner out with wrong codes, and limits the links one client opens', async () => {
    const signup = await call('/tenants', { method: 'POST', body: { slug: 'guessed', email: 'guessed@example.test' } });
    expect(signup.status).toBe(202);
    const outbox = await call('/outbox', { headers: { accept: 'application/json' } });
    const link = /http:\/\/\S+\/verify\?\S+/.exec(outbox.body.messages[0].text)![0];
    expect(link).toContain('tenant=guessed');

    // A stranger who saw the slug pending tries codes until the limit per client stops them.
    const stranger = { 'x-forwarded-for': '198.51.100.7' };
    const statuses: number[] = [];
    for (let i = 0; i < VERIFY_ATTEMPTS_PER_HOUR + 1; i++) {
      statuses.push((await fetch(`${embedded.apiUrl}/verify?tenant=guessed&code=${'B'.repeat(31)}${i}`, { headers: stranger })).status);
    }
    const right = await fetch(link, { headers: { 'x-forwarded-for': '203.0.113.9' } });

    expect(statuses.slice(0, VERIFY_ATTEMPTS_PER_HOUR)).toEqual(Array(VERIFY_ATTEMPTS_PER_HOUR).fill(400));
    expect(statuses.at(-1)).toBe(429);
    expect(right.status).toBe(200);
    expect((await call('/tenants/guessed')).body.phase).not.toBe('PendingVerification');
  });
});
