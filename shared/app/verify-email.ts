import { timingSafeEqual } from 'node:crypto';
import { VersionConflictError } from '../domain/errors.js';
import { isAwaitingVerification, verified, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { TenantReader, TenantWriter } from '../ports/tenant-store.js';
import { hashToken } from './tokens.js';

/** Wrong codes a signup takes before its link stops working; it then only expires. */
export const MAX_VERIFICATION_ATTEMPTS = 5;

export interface VerifyEmailDeps {
  store: TenantReader & Pick<TenantWriter, 'save'>;
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

const MAX_CONFLICTS = 5;

/**
 * Opens a confirmation link: with the right code, the signup becomes a trial that wants to run
 * (Pending), takes its place under the tenant ceiling (TenantCeilingError when none is left;
 * the link then still works later) and no longer expires.
 */
export async function verifyEmail(deps: VerifyEmailDeps, tenantId: string, code: string): Promise<VerifyOutcome> {
  for (let attempt = 1; ; attempt++) {
    const tenant = await deps.store.get(tenantId);
    if (!tenant) return { outcome: 'invalid' };
    if (!isAwaitingVerification(tenant) || !tenant.verification) {
      const gone = tenant.spec.desired === 'deleted';
      return gone ? { outcome: 'invalid' } : { outcome: 'alreadyVerified', tenant };
    }
    const now = deps.clock.now();
    if (tenant.expiresAt !== undefined && tenant.expiresAt * 1000 <= now.getTime()) return { outcome: 'expired' };
    const { failedAttempts, codeHash } = tenant.verification;
    if (failedAttempts >= MAX_VERIFICATION_ATTEMPTS) return { outcome: 'locked' };
    try {
      if (!codeMatches(code, codeHash)) {
        const failed = failedAttempts + 1;
        await deps.store.save({ ...tenant, verification: { codeHash, failedAttempts: failed } });
        return failed >= MAX_VERIFICATION_ATTEMPTS ? { outcome: 'locked' } : { outcome: 'invalid' };
      }
      const saved = await deps.store.save(verified(tenant, now, deps.trialDays), { admit: { maxTenants: deps.maxTenants } });
      return { outcome: 'verified', tenant: saved };
    } catch (error) {
      if (!(error instanceof VersionConflictError) || attempt >= MAX_CONFLICTS) throw error;
    }
  }
}

/** Constant time: the answer's timing says nothing about how much of the code was right. */
function codeMatches(code: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashToken(code), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
