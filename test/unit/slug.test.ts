import { describe, expect, it } from 'vitest';
import { RESERVED_SLUGS, isValidSlug, slugProblem } from '../../shared/domain/slug.js';

describe('slug rules', () => {
  it.each(['acme', 'a1b', 'acme-corp', 'x9-y8-z7', `a${'b'.repeat(39)}`])('accepts %s', (slug) => {
    expect(slugProblem(slug)).toBeUndefined();
  });

  it.each([
    ['ab', /3 to 40/],
    [`a${'b'.repeat(40)}`, /3 to 40/],
    ['', /3 to 40/],
    ['Acme', /lowercase/],
    ['acme_corp', /lowercase letters, digits and hyphens/],
    ['acmé', /lowercase letters, digits and hyphens/],
    ['acme.corp', /lowercase letters, digits and hyphens/],
    ['9lives', /start with a letter/],
    ['-acme', /start with a letter/],
    ['acme-', /end with a hyphen/],
    ['xn--acme', /two hyphens/],
    ['www', /reserved/],
    ['admin', /reserved/],
  ])('rejects %j because it %s', (slug, reason) => {
    expect(slugProblem(slug)).toMatch(reason);
    expect(isValidSlug(slug)).toBe(false);
  });

  it('reserves the names of common platform hosts', () => {
    for (const name of ['www', 'api', 'admin', 'app', 'mail']) expect(RESERVED_SLUGS.has(name)).toBe(true);
  });
});
