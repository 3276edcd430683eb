import { timingSafeEqual } from 'node:crypto';
import { isAwaitingVerification, verified, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import { hashToken } from './tokens.js';
import { updateTenant, type UpdatableStore } from './update-tenant.js';

/** Wrong codes a signup takes before its link stops working; it then only expires. */
export const MAX_VERIFICATION_ATTEMPTS = 5;

export interface VerifyEmailDeps {
  store: UpdatableStore;
  clock: Clock;
  trialDays: number;
  maxTenants: number;
}

export type VerifyOutcome =
  | { outcome: 'verified'; tenant: Tenant }
  | { outcome: 'alreadyVerified'; tenant: Tenant }
  /** Unknown tenant or wrong code: the two are not told apart. */
  | { outcome: 'invalid' }
  | { outcome: 'expired' }
  | { outcome: 'locked' };

/**
 * Opens a confirmation link: with the right code, the signup becomes a trial that wants to run
 * (Pending), takes its place under the tenant ceiling (TenantCeilingError when none is left;
 * the link then still works later) and no longer expires.
 */
export async function verifyEmail(deps: VerifyEmailDeps, tenantId: string, code: string): Promise<VerifyOutcome> {
  let now = deps.clock.now();
  const result = await updateTenant(deps.store, tenantId, (tenant) => {
    now = deps.clock.now();
    if (answerWithoutWrite(tenant, now)) return undefined;
    const { failedAttempts, codeHash } = tenant.verification!;
    if (!codeMatches(code, codeHash)) return { tenant: { ...tenant, verification: { codeHash, failedAttempts: failedAttempts + 1 } } };
    return { tenant: verified(tenant, now, deps.trialDays), options: { admit: { maxTenants: deps.maxTenants } } };
  });
  if (!result.tenant) return { outcome: 'invalid' };
  if (!result.written) return answerWithoutWrite(result.tenant, now)!;
  const saved = result.tenant;
  if (!isAwaitingVerification(saved)) return { outcome: 'verified', tenant: saved };
  // The write counted a wrong code.
  return saved.verification!.failedAttempts >= MAX_VERIFICATION_ATTEMPTS ? { outcome: 'locked' } : { outcome: 'invalid' };
}

/** The answer when the code need not be checked: confirmed already, gone, expired or locked. */
function answerWithoutWrite(tenant: Tenant, now: Date): VerifyOutcome | undefined {
  if (!isAwaitingVerification(tenant) || !tenant.verification) {
    const gone = tenant.spec.desired === 'deleted';
    return gone ? { outcome: 'invalid' } : { outcome: 'alreadyVerified', tenant };
  }
  if (tenant.expiresAt !== undefined && tenant.expiresAt * 1000 <= now.getTime()) return { outcome: 'expired' };
  if (tenant.verification.failedAttempts >= MAX_VERIFICATION_ATTEMPTS) return { outcome: 'locked' };
  return undefined;
}

/** Constant time: the answer's timing says nothing about how much of the code was right. */
function codeMatches(code: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashToken(code), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
