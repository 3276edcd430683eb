/**
 * What anonymous visitors are told about a tenant's trouble: one fixed sentence per category,
 * never the error itself (which may hold the application's output, a connection string or the
 * installation's AWS identifiers). The category is recorded next to the error when it happens.
 */
export const ERROR_CATEGORIES = ['not-started', 'stopped', 'unhealthy', 'no-capacity', 'queued', 'platform'] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

const PUBLIC_SENTENCES: Readonly<Record<ErrorCategory, string>> = {
  'not-started': 'The application did not start.',
  stopped: 'The application stopped unexpectedly.',
  unhealthy: 'The application does not answer its health check.',
  'no-capacity': 'There was no capacity to start it; it will be retried.',
  queued: 'All places are taken right now; it starts as soon as one frees up.',
  platform: 'The hosting platform could not start it.',
};

/** For an error recorded without a category: said plainly, by whether it was given up on. */
const UNCATEGORISED = { failed: 'The application did not start.', retrying: 'Starting takes longer than usual; it is being retried.' };

/** The sentence for anonymous visitors, or undefined when there is no error to speak of. */
export function publicReason(status: { lastError?: string; lastErrorCategory?: ErrorCategory; phase: string }): string | undefined {
  if (!status.lastError) return undefined;
  if (status.lastErrorCategory) return PUBLIC_SENTENCES[status.lastErrorCategory];
  return status.phase === 'Failed' ? UNCATEGORISED.failed : UNCATEGORISED.retrying;
}
