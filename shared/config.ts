import { z } from 'zod';

/**
 * Configuration is read from the environment once, at cold start, into a typed object. A
 * missing or malformed variable fails loudly with its name rather than at first use.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const positiveInt = z.coerce.number().int().positive();

/** `http(s)://host[:port]` with nothing after it: tenant URLs are `<scheme>://<slug>.<host>[:port]`. */
const baseUrl = z
  .string()
  .url()
  .transform((value) => new URL(value))
  .refine((url) => ['http:', 'https:'].includes(url.protocol), 'must start with http:// or https://')
  .refine((url) => url.pathname === '/' && !url.search && !url.hash, 'must have no path, query or fragment');

const apiSchema = z.object({
  DORMOUSE_TABLE_NAME: z.string().min(3),
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: z.string().min(3),
  DORMOUSE_BASE_URL: baseUrl,
  DORMOUSE_MAX_TENANTS: positiveInt.default(1000),
  DORMOUSE_TRIAL_DAYS: positiveInt.default(14),
  DORMOUSE_IDEMPOTENCY_TTL_SECONDS: positiveInt.default(3600),
  DORMOUSE_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

export interface ApiConfig {
  tenantTable: string;
  idempotencyTable: string;
  /** Tenants are served at `<scheme>://<slug>.<host>[:port]` of this URL. */
  baseUrl: URL;
  maxTenants: number;
  trialDays: number;
  idempotencyTtlSeconds: number;
  /** Bearer token that acts as admin. Embedded mode only: on AWS, admins sign requests with IAM. */
  adminToken?: string;
}

export type Env = Record<string, string | undefined>;

export function parseEnv<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  // Empty strings mean "unset", as they do for most shells and CloudFormation parameters.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return result.data;
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const parsed = parseEnv(apiSchema, env);
  return {
    tenantTable: parsed.DORMOUSE_TABLE_NAME,
    idempotencyTable: parsed.DORMOUSE_IDEMPOTENCY_TABLE_NAME,
    baseUrl: parsed.DORMOUSE_BASE_URL,
    maxTenants: parsed.DORMOUSE_MAX_TENANTS,
    trialDays: parsed.DORMOUSE_TRIAL_DAYS,
    idempotencyTtlSeconds: parsed.DORMOUSE_IDEMPOTENCY_TTL_SECONDS,
    ...(parsed.DORMOUSE_ADMIN_TOKEN ? { adminToken: parsed.DORMOUSE_ADMIN_TOKEN } : {}),
  };
}

/** `https://acme.example.com` for slug `acme` and base URL `https://example.com`. */
export function tenantUrl(baseUrl: URL, slug: string): string {
  const url = new URL(baseUrl);
  url.hostname = `${slug}.${baseUrl.hostname}`;
  return url.origin;
}
