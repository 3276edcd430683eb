// zod's mini build, as in shared/config/settings.ts: the API loads these at every cold start.
import * as z from 'zod/mini';
import type { $ZodType, output } from 'zod/v4/core';
import { environmentSchema, keepWarmSchema } from '../config/plans.js';
import { UPLOAD_ID_PATTERN } from '../domain/data-archives.js';
import { ValidationError } from '../domain/errors.js';
import { slugProblem } from '../domain/slug.js';
import { PHASES } from '../domain/tenant.js';

const requiredString = () => z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') });

const slug = requiredString().check(
  z.superRefine((value: string, ctx) => {
    const problem = slugProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
);

const email = z.pipe(
  requiredString().check(z.trim(), z.toLowerCase(), z.maxLength(254, 'must be at most 254 characters')),
  z.email('must be an email address like ann@example.com'),
);

/** Unknown fields are rejected rather than ignored: a typo must not pass silently. */
export const signupBody = z.strictObject({
  slug,
  email,
  /** Checked against the public plans by the signup itself: absent means the default plan. */
  plan: z.optional(requiredString()),
});

const CHANGEABLE = ['plan', 'trialEndsAt', 'environment', 'keepWarm'] as const;

/** An operator's change of a tenant (PATCH): at least one field, each checked as it is declared. */
export const tenantChangesBody = z
  .strictObject({
    plan: z.optional(requiredString()),
    trialEndsAt: z.optional(z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time such as 2026-12-31T18:00:00Z' })),
    environment: z.optional(environmentSchema),
    keepWarm: z.optional(z.nullable(keepWarmSchema)),
  })
  .check(
    z.refine((changes) => CHANGEABLE.some((field) => changes[field] !== undefined), {
      message: `needs at least one of: ${CHANGEABLE.join(', ')}`,
      abort: true,
    }),
  );

const LIMIT_RANGE = 'must be a whole number from 1 to 100';

export const listQuery = z.strictObject({
  phase: z.optional(z.enum(PHASES, { error: `must be one of: ${PHASES.join(', ')}` })),
  cursor: z.optional(z.string().check(z.maxLength(4096))),
  limit: z._default(
    z.coerce.number({ error: LIMIT_RANGE }).check(z.int(LIMIT_RANGE), z.minimum(1, LIMIT_RANGE), z.maximum(100, LIMIT_RANGE)),
    20,
  ),
});

const LOG_LIMIT_RANGE = 'must be a whole number from 1 to 1000';

/** `GET /tenants/{id}/logs`: from a time, or after a previous page's `next`; the newest lines otherwise. */
export const logsQuery = z.strictObject({
  since: z.optional(z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time such as 2026-12-31T18:00:00Z' })),
  next: z.optional(z.string().check(z.maxLength(4096))),
  limit: z._default(
    z.coerce
      .number({ error: LOG_LIMIT_RANGE })
      .check(z.int(LOG_LIMIT_RANGE), z.minimum(1, LOG_LIMIT_RANGE), z.maximum(1000, LOG_LIMIT_RANGE)),
    100,
  ),
});

/**
 * An opaque client-chosen key, such as a UUID. At least 16 characters: whoever knows a key can
 * replay its answer (the signup's token) while it is kept, so keys must be too long to guess.
 */
export const idempotencyKey = z.string().check(z.regex(/^[\x21-\x7e]{16,128}$/, 'must be 16 to 128 visible ASCII characters'));

/** The query of a confirmation link; anything else is answered with the "invalid link" page. */
export const verifyQuery = z.object({
  tenant: requiredString(),
  code: requiredString().check(z.regex(/^[A-Za-z0-9_-]{16,128}$/, 'is not a code we send')),
});

/** The upload a restore uses, as the upload link named it. */
export const uploadIdParam = requiredString().check(z.regex(UPLOAD_ID_PATTERN, 'is not an uploadId we issue'));

/** Parses input or throws a ValidationError that names each bad field and says why. */
export function parseInput<S extends $ZodType>(schema: S, input: unknown, what: string): output<S> {
  const result = z.safeParse(schema, input);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) fields[key] ??= 'is not a known field';
    } else {
      const field = issue.path.length ? issue.path.join('.') : what;
      fields[field] ??= issue.message;
    }
  }
  const summary = Object.entries(fields)
    .map(([field, message]) => `${field} ${message}`)
    .join('; ');
  throw new ValidationError(`Invalid ${what}: ${summary}.`, fields);
}
