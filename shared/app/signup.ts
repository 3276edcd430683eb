import { newTenant, type Plan, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { TenantWriter } from '../ports/tenant-store.js';
import { generateToken, hashToken } from './tokens.js';

export interface SignupInput {
  slug: string;
  email: string;
  plan: Plan;
}

export interface SignupDeps {
  store: Pick<TenantWriter, 'create'>;
  clock: Clock;
  trialDays: number;
  maxTenants: number;
}

export interface SignupResult {
  tenant: Tenant;
  /** Returned to the caller once; only its hash is stored. */
  token: string;
}

/**
 * Records a new tenant that wants to run. The slug, the email claim and the slot under the
 * tenant ceiling are taken in one transaction, so racing signups cannot both win.
 */
export async function signup(deps: SignupDeps, input: SignupInput): Promise<SignupResult> {
  const token = generateToken();
  const tenant = newTenant({
    slug: input.slug,
    email: input.email,
    plan: input.plan,
    tokenHash: hashToken(token),
    now: deps.clock.now(),
    trialDays: deps.trialDays,
  });
  const created = await deps.store.create(tenant, { maxTenants: deps.maxTenants });
  return { tenant: created, token };
}
