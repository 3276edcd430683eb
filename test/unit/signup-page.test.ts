import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { slugProblem } from '../../shared/domain/slug.js';
import { SIGNUP_SCRIPT, SLUG_PATTERN } from '../../shared/http/signup-page.js';

/** The page script's pure helpers, run as a browser would define them: as globals of a script. */
function helpers() {
  const context = vm.createContext({});
  vm.runInContext(SIGNUP_SCRIPT, context);
  return context as unknown as {
    phaseText(tenant: { phase: string; reason?: string }): string;
    outcome(tenant: { phase: string; desired?: string }): string;
    formErrors(body: unknown): { fields: Record<string, string>; general: string[] };
    nextPollMs(ms: number): number;
    newKey(crypto: unknown): string;
  };
}

/** Round-trips through JSON so objects made in the script's realm compare as plain data. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value));

describe('the signup page script', () => {
  it('is valid JavaScript that does nothing on its own outside a browser', () => {
    expect(() => new vm.Script(SIGNUP_SCRIPT)).not.toThrow();
    expect(() => helpers()).not.toThrow();
  });

  it('waits 2 s before the first status poll and half as long again each time, up to 15 s', () => {
    const { nextPollMs } = helpers();
    const waits = [2000];
    while (waits.length < 9) waits.push(nextPollMs(waits.at(-1)!));

    expect(waits).toEqual([2000, 3000, 4500, 6750, 10125, 15000, 15000, 15000, 15000]);
  });

  it('tells the visitor to open the mailed link while the signup waits for it, and keeps following it', () => {
    const { phaseText, outcome } = helpers();

    expect(phaseText({ phase: 'PendingVerification' })).toMatch(/^Check your inbox: .*link.*confirm your email address/);
    expect(outcome({ phase: 'PendingVerification', desired: 'running' })).toBe('');
    expect(outcome({ phase: 'Running', desired: 'running' })).toBe('ready');
    expect(outcome({ phase: 'Failed', desired: 'running' })).toBe('failed');
  });

  it('makes Idempotency-Keys the API accepts (16 to 128 characters) with or without crypto.randomUUID', () => {
    const { newKey } = helpers();

    for (const key of [newKey(globalThis.crypto), newKey(undefined), newKey({})]) expect(key).toMatch(/^[\x21-\x7e]{16,128}$/);
  });

  it('puts field errors from the API next to the fields the form has, and the rest above it', () => {
    const { formErrors } = helpers();

    expect(
      plain(
        formErrors({
          error: {
            code: 'invalid_request',
            message: 'Invalid signup',
            fields: { slug: 'must start with a letter', email: 'is required', admin: 'is not a known field' },
          },
        }),
      ),
    ).toEqual({
      fields: { slug: 'The name must start with a letter.', email: 'The email address is required.' },
      general: ['admin is not a known field.'],
    });
  });

  it('falls back to the error message, and to a generic sentence when there is none', () => {
    const { formErrors } = helpers();

    expect(plain(formErrors({ error: { code: 'trial_exists', message: 'This email address already has a live trial.' } }))).toEqual({
      fields: {},
      general: ['This email address already has a live trial.'],
    });
    expect(plain(formErrors(null)).general).toEqual(['Something went wrong. Please try again.']);
  });

  it('does not treat inherited names as form fields', () => {
    expect(plain(helpers().formErrors({ error: { fields: { constructor: 'x' } } }))).toEqual({ fields: {}, general: ['constructor x.'] });
  });

  it.each([
    [{ phase: 'Pending' }, 'Signed up. Waiting to start…', ''],
    [{ phase: 'Queued' }, 'Waiting for a free slot…', ''],
    [{ phase: 'Provisioning' }, 'Starting your environment…', ''],
    [{ phase: 'Running' }, 'Ready.', 'ready'],
    [{ phase: 'Passivated' }, 'Asleep. Opening it wakes it up.', 'asleep'],
    [{ phase: 'Failed', reason: 'The image could not be pulled.' }, 'It could not be started: The image could not be pulled.', 'failed'],
    [{ phase: 'Running', desired: 'deleted' }, 'This trial was deleted.', 'gone'],
  ])('describes %j and knows whether to keep polling', (tenant, text, end) => {
    const { phaseText, outcome } = helpers();
    expect(phaseText(tenant)).toBe(text);
    expect(outcome(tenant)).toBe(end);
  });
});

describe('the slug input pattern', () => {
  // Browsers compile `pattern` anchored and with the `v` flag.
  const pattern = new RegExp(`^(?:${SLUG_PATTERN})$`, 'v');
  const samples = [
    'acme',
    'a1b',
    'acme-corp',
    'x9-y8-z7',
    'Acme',
    'acme_corp',
    'acmé',
    'acme.corp',
    '9lives',
    '-acme',
    'acme-',
    'xn--acme',
    'a-b',
    'ab-1',
    'a--b',
  ];

  it.each(samples)('agrees with the API about the characters of %j', (slug) => {
    const problem = slugProblem(slug);
    const characterProblem = problem !== undefined && !/characters long|reserved/.test(problem);
    expect(pattern.test(slug)).toBe(!characterProblem);
  });
});
