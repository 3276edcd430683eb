import { describe, expect, it } from 'vitest';
import { generateToken, hashToken, tokenMatches } from '../../shared/app/tokens.js';

describe('management tokens', () => {
  it('are random and long enough to be unguessable', () => {
    const tokens = new Set(Array.from({ length: 100 }, generateToken));

    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^dmt_[A-Za-z0-9_-]{43}$/);
  });

  it('match only their own hash', () => {
    const token = generateToken();

    expect(tokenMatches(token, hashToken(token))).toBe(true);
    expect(tokenMatches(generateToken(), hashToken(token))).toBe(false);
    expect(tokenMatches(token, 'not-a-hash')).toBe(false);
    expect(hashToken(token)).not.toContain(token.slice(4));
  });
});
