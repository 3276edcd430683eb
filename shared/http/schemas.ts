import { z } from 'zod';
import { ValidationError } from '../domain/errors.js';
import { slugProblem } from '../domain/slug.js';
import { PHASES, PLANS } from '../domain/tenant.js';

const requiredString = () =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') });

const slug = requiredString().superRefine((value, ctx) => {
  const problem = slugProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const email = requiredString()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be an email address like ann@example.com'));

/** Unknown fields are rejected rather than ignored: a typo must not pass silently. */
export const signupBody = z.strictObject({
  slug,
  email,
  plan: z.enum(PLANS, { error: `must be one of: ${PLANS.join(', ')}` }).default('trial'),
});

const LIMIT_RANGE = 'must be a whole number from 1 to 100';

export const listQuery = z.strictObject({
  phase: z.enum(PHASES, { error: `must be one of: ${PHASES.join(', ')}` }).optional(),
  cursor: z.string().max(4096).optional(),
  limit: z.coerce
    .number({ error: LIMIT_RANGE })
    .int(LIMIT_RANGE)
    .min(1, LIMIT_RANGE)
    .max(100, LIMIT_RANGE)
    .default(20),
});

/** An opaque client-chosen key; long enough for a UUID or a ULID with a prefix. */
export const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 visible ASCII characters');

/** Parses input or throws a ValidationError that names each bad field and says why. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
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
