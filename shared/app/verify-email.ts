import { timingSafeEqual } from 'node:crypto';
import { defaultPlan, planNamed, type PlanCatalog } from '../domain/plans.js';
import { isAwaitingVerification, verified, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import { clientKey } from './signup.js';
import { hashToken } from './tokens.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

/**
 * Links one client may open in an hour. Guessing a 192-bit code is hopeless anyway; this keeps
 * a script from making the route a cheap way to load the table.
 */
export const VERIFY_ATTEMPTS_PER_HOUR = 30;

export interface VerifyEmailDeps {
  store: UpdatableStore;
  clock: Clock;
  /** The plans; the trial length is the tenant's plan's. */
  plans: PlanCatalog;
  maxTenants: number;
  /** Counts the links each client opens. */
  limiter: RateLimiter;
}

export type VerifyOutcome =
  | { outcome: 'verified'; tenant: Tenant }
  | { outcome: 'alreadyVerified'; tenant: Tenant }
  /** Unknown tenant or wrong code: the two are not told apart. */
  | { outcome: 'invalid' }
  | { outcome: 'expired' }
  | { outcome: 'rateLimited'; retryAfterSeconds: number };

/**
 * Opens a confirmation link: with the right code, the signup becomes a trial that wants to run
 * (Pending), takes its place under the tenant ceiling (TenantCeilingError when none is left;
 * the link then still works later) and no longer expires.
 */
export async function verifyEmail(deps: VerifyEmailDeps, tenantId: string, code: string, clientAddress: string): Promise<VerifyOutcome> {
  const tries = await deps.limiter.take(clientKey(clientAddress, 'verify'), VERIFY_ATTEMPTS_PER_HOUR, deps.clock.now());
  if (!tries.allowed) return { outcome: 'rateLimited', retryAfterSeconds: tries.retryAfterSeconds };
  let now = deps.clock.now();
  const result = await updateTenant(deps.store, tenantId, (tenant) => {
    now = deps.clock.now();
    if (answerWithoutWrite(tenant, now) || !codeMatches(code, tenant.verification!.codeHash)) return undefined;
    // A plan removed from the configuration since the signup: the default plan's trial applies.
    const plan = planNamed(deps.plans, tenant.spec.plan) ?? defaultPlan(deps.plans);
    return { tenant: verified(tenant, now, plan.trialDays), options: { admit: { maxTenants: deps.maxTenants } } };
  });
  if (!result.tenant) return { outcome: 'invalid' };
  if (!result.written) return answerWithoutWrite(result.tenant, now) ?? { outcome: 'invalid' };
  return { outcome: 'verified', tenant: result.tenant };
}

/** The answer when the code need not be checked: confirmed already, gone or expired. */
function answerWithoutWrite(tenant: Tenant, now: Date): VerifyOutcome | undefined {
  if (!isAwaitingVerification(tenant) || !tenant.verification) {
    const gone = tenant.spec.desired === 'deleted';
    return gone ? { outcome: 'invalid' } : { outcome: 'alreadyVerified', tenant };
  }
  if (tenant.expiresAt !== undefined && tenant.expiresAt * 1000 <= now.getTime()) return { outcome: 'expired' };
  return undefined;
}

/** Constant time: the answer's timing says nothing about how much of the code was right. */
function codeMatches(code: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashToken(code), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
