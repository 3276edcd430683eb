/**
 * Slug rules. A slug becomes a DNS label (`<slug>.<root domain>`), an ALB host condition and
 * part of AWS resource names, so it is held to the strictest of those.
 */

export const SLUG_MIN_LENGTH = 3;
/** Keeps hosts short and well under the 63-character DNS label limit. */
export const SLUG_MAX_LENGTH = 40;

/** Names that would collide with the platform's own hosts or mislead visitors. */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'admin',
  'api',
  'app',
  'assets',
  'auth',
  'billing',
  'blog',
  'cdn',
  'dashboard',
  'dev',
  'docs',
  'dormouse',
  'ftp',
  'help',
  'imap',
  'internal',
  'localhost',
  'login',
  'mail',
  'ns1',
  'ns2',
  'pop',
  'root',
  'signup',
  'smtp',
  'staging',
  'static',
  'status',
  'support',
  'test',
  'wake',
  'webmail',
  'www',
]);

/** Returns why a slug is not acceptable, or undefined when it is. */
export function slugProblem(slug: string): string | undefined {
  if (slug.length < SLUG_MIN_LENGTH || slug.length > SLUG_MAX_LENGTH) {
    return `must be ${SLUG_MIN_LENGTH} to ${SLUG_MAX_LENGTH} characters long`;
  }
  if (!/^[a-z0-9-]+$/.test(slug)) return 'may contain only lowercase letters, digits and hyphens';
  if (!/^[a-z]/.test(slug)) return 'must start with a letter';
  if (slug.endsWith('-')) return 'must not end with a hyphen';
  // Rules out punycode-style labels (`xn--`), which browsers would show as other characters.
  if (slug.includes('--')) return 'must not contain two hyphens in a row';
  if (RESERVED_SLUGS.has(slug)) return `"${slug}" is reserved; choose another name`;
  return undefined;
}

export function isValidSlug(slug: string): boolean {
  return slugProblem(slug) === undefined;
}
