import { describe, expect, it } from 'vitest';
import { errorLine, quietErrors } from '../../shared/adapters/local/error-log.js';

describe('quietErrors', () => {
  it('passes the same error on once a minute, with the count of those it held back', () => {
    let now = 0;
    const shown: string[] = [];
    const errors = quietErrors((context, error) => shown.push(`${context}: ${(error as Error).message}`), { now: () => now });
    const refused = () => new Error('connect ECONNREFUSED 127.0.0.1:8000');

    for (let i = 0; i < 1_000; i++) errors.onError(i % 2 ? 'reading the table stream' : `reconciling tenant-${i}`, refused());
    errors.onError('sweeping', new Error('something else'));
    now = 60_000;
    errors.onError('sweeping', refused());

    expect(shown).toEqual([
      'reconciling tenant-0: connect ECONNREFUSED 127.0.0.1:8000',
      'sweeping: something else',
      'sweeping (and 999 more like it): connect ECONNREFUSED 127.0.0.1:8000',
    ]);
  });

  it('drops everything while paused', () => {
    const shown: string[] = [];
    const errors = quietErrors((context) => shown.push(context));
    errors.pause();
    errors.onError('reading the table stream', new Error('down'));
    errors.resume();
    errors.onError('sweeping', new Error('later'));
    expect(shown).toEqual(['sweeping']);
  });
});

describe('errorLine', () => {
  it('gives an error as one line, its name and message, without the stack or the cause', () => {
    const error = new Error('Tenant kept changed since version 9 was read', { cause: new Error('The conditional request failed') });
    error.name = 'VersionConflictError';

    expect(errorLine(error)).toBe('VersionConflictError: Tenant kept changed since version 9 was read');
    expect(errorLine('plain text')).toBe('plain text');
  });
});
