import { describe, expect, it } from 'vitest';
import { normalizeEmail } from '../../shared/domain/email.js';

describe('normalizeEmail', () => {
  it.each([
    ['Ann@Example.com', 'ann@example.com'],
    ['  ann@example.com ', 'ann@example.com'],
    ['ann+1@example.com', 'ann@example.com'],
    ['ann+trial+2@example.com', 'ann@example.com'],
    ['a.n.n@gmail.com', 'ann@gmail.com'],
    ['A.Nn+x@GoogleMail.com', 'ann@gmail.com'],
    ['ann@gmail.com.', 'ann@gmail.com'],
  ])('counts %s as %s', (input, expected) => {
    expect(normalizeEmail(input)).toBe(expected);
  });

  it('keeps dots outside Gmail, where they name another mailbox', () => {
    expect(normalizeEmail('a.nn@example.com')).toBe('a.nn@example.com');
  });

  it('keeps a local part that starts with +, which has no mailbox before the tag', () => {
    expect(normalizeEmail('+ann@example.com')).toBe('+ann@example.com');
  });
});
