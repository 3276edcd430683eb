/**
 * Error details as shown to people: secrets never, and AWS identifiers only to operators.
 * Pure text in, text out; applied when a detail is shown, so records and logs keep the whole
 * story for whoever runs the installation.
 */

/** Details longer than this are cut: a page or a status is not a log. */
export const MAX_DETAIL_LENGTH = 500;

const MASK = '***';

/** `scheme://user:password@host` → `scheme://***@host` (up to the last `@` before the path). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*(?:@[^\s/?#@]*)*@/gi;
/** `password=…`, `DB_SECRET: …`, `"apiKey": "…"`: a key that looks secret, and its value. */
const SECRET_PAIR = /\b([\w.-]*(?:passw(?:or)?d|pwd|secret|token|key|credential|auth)[\w.-]*)("?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"']+)/gi;
/**
 * The same key names followed by a space (`aws_secret_access_key wJalr…`, `--password hunter2`):
 * only for names written as identifiers or flags, so prose such as "the key was" keeps its words.
 */
const SECRET_AFTER_SPACE =
  /(?<![\w-])(--?[\w-]*(?:passw(?:or)?d|pwd|secret|token|key|credential)[\w-]*|[a-z]+_[\w]*(?:passw(?:or)?d|secret|token|key|credential)[\w]*)(\s+)(?![=:])([^\s,;&"']+)/gi;
/** Tokens recognisable by their prefix: GitHub, Slack, OpenAI-style and Stripe-style keys. */
const PREFIXED_TOKEN =
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|sk-(?:proj-|live_|test_)?[\w-]{16,}|[rs]k_(?:live|test)_\w{16,})/g;
/** `Authorization: Bearer abc` has its secret after a space, not right after the colon. */
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[\w.~+/=-]+/gi;
/** AWS access key ids (long-term AKIA…, temporary ASIA…). */
const ACCESS_KEY_ID = /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g;
const ARN = /\barn:aws[a-z-]*:[^\s"'(),;]*/g;
const ACCOUNT_ID = /\b\d{12}\b/g;

/** Removes credentials: URL user info, secret-looking key/value pairs and flags, bearer and prefixed tokens, access key ids. */
export function redactSecrets(text: string): string {
  return text
    .replace(URL_USERINFO, `$1${MASK}@`)
    .replace(AUTH_SCHEME, `$1 ${MASK}`)
    .replace(SECRET_PAIR, `$1$2${MASK}`)
    .replace(SECRET_AFTER_SPACE, `$1$2${MASK}`)
    .replace(PREFIXED_TOKEN, MASK)
    .replace(ACCESS_KEY_ID, MASK);
}

/** Removes what names the AWS account: ARNs (roles, tasks, target groups) and account ids. */
export function redactAwsIdentifiers(text: string): string {
  return text.replace(ARN, 'arn:***').replace(ACCOUNT_ID, MASK);
}

export function bounded(text: string, max = MAX_DETAIL_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Who reads a detail: the tenant's token holder sees their own application's errors but not the
 * installation's AWS account; an operator sees everything but secrets.
 */
export type DetailAudience = 'owner' | 'admin';

export function redactDetail(text: string, audience: DetailAudience): string {
  const withoutSecrets = redactSecrets(text);
  return bounded(audience === 'admin' ? withoutSecrets : redactAwsIdentifiers(withoutSecrets));
}
