import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A management token: shown to the tenant once, stored only as its hash. */
export function generateToken(): string {
  return `dmt_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison, so response timing does not reveal how much of a token matched. */
export function tokenMatches(token: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashToken(token), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The one-time code of an email confirmation link; only its hash (hashToken) is stored. */
export function generateVerificationCode(): string {
  return randomBytes(24).toString('base64url');
}
