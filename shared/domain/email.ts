/**
 * The form of an email address under which the one-trial-per-email rule counts it. Many
 * providers deliver `ann+anything@` to `ann@`, and Gmail ignores dots in the local part, so
 * without this one mailbox could claim any number of trials.
 */

/** Domains whose local part ignores dots; googlemail.com is Gmail under another name. */
const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

export function normalizeEmail(email: string): string {
  const address = email.trim().toLowerCase();
  const at = address.lastIndexOf('@');
  if (at <= 0) return address;
  let local = address.slice(0, at);
  let domain = address.slice(at + 1).replace(/\.$/, '');
  // Sub-addressing: everything from the first '+' is a tag the mailbox ignores.
  const plus = local.indexOf('+');
  if (plus > 0) local = local.slice(0, plus);
  if (GMAIL_DOMAINS.has(domain)) {
    domain = 'gmail.com';
    local = local.replaceAll('.', '');
  }
  return `${local}@${domain}`;
}
