import { createHash } from 'node:crypto';
import { EmailUnavailableError, RateLimitedError, ValidationError } from '../domain/errors.js';
import { defaultPlan, publicPlans, type PlanCatalog, type PlanDefinition } from '../domain/plans.js';
import { newTenant, type Tenant } from '../domain/tenant.js';
import type { Clock } from '../ports/clock.js';
import type { EmailSender } from '../ports/email.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { PendingSignups, TenantWriter } from '../ports/tenant-store.js';
import { generateToken, generateVerificationCode, hashToken } from './tokens.js';

export interface SignupInput {
  slug: string;
  email: string;
  /** One of the public plans; absent: the default plan (the first public one). */
  plan?: string;
}

export interface SignupDeps {
  store: Pick<TenantWriter, 'create'> & PendingSignups;
  clock: Clock;
  /** The plans; the tenant's trial length is its plan's. */
  plans: PlanCatalog;
  maxTenants: number;
  limiter: RateLimiter;
  /** Per source address and hour; 0 turns the limit off. */
  signupsPerHour: number;
  /** When set, the trial waits for its owner to open a link mailed to them. */
  verification?: { sender: EmailSender };
  logger?: Pick<Console, 'error'>;
}

export interface SignupRequest {
  /** Where the signup came from (the connection, or a trusted proxy's X-Forwarded-For). */
  clientAddress: string;
  /** The confirmation link for a tenant and its one-time code. */
  verifyUrl: (tenantId: string, code: string) => string;
}

export interface SignupResult {
  tenant: Tenant;
  /** Returned to the caller once; only its hash is stored. */
  token: string;
}

/** The rate limiter's key for a client and what it does: a hash, so the table holds no addresses. */
export function clientKey(address: string, action: 'signup' | 'verify' = 'signup'): string {
  return `${action}:${createHash('sha256').update(`dormouse-signup:${address}`).digest('hex')}`;
}

/**
 * Records a new tenant that wants to run. The slug, the email claim and the slot under the
 * tenant ceiling are taken in one transaction, so racing signups cannot both win. With email
 * verification the slot is taken when the link is opened instead (see verify-email).
 */
export async function signup(deps: SignupDeps, input: SignupInput, request: SignupRequest): Promise<SignupResult> {
  const plan = signupPlan(deps.plans, input.plan);
  const now = deps.clock.now();
  if (deps.signupsPerHour > 0) {
    const decision = await deps.limiter.take(clientKey(request.clientAddress), deps.signupsPerHour, now);
    if (!decision.allowed) throw new RateLimitedError(decision.retryAfterSeconds);
  }
  const token = generateToken();
  const code = deps.verification ? generateVerificationCode() : undefined;
  const tenant = newTenant({
    slug: input.slug,
    email: input.email,
    plan: plan.name,
    tokenHash: hashToken(token),
    now,
    ...(plan.trialDays !== undefined ? { trialDays: plan.trialDays } : {}),
    ...(code ? { verificationCodeHash: hashToken(code) } : {}),
  });
  const created = await deps.store.create(tenant, { maxTenants: deps.maxTenants });
  if (deps.verification && code) {
    // Sent here, after the write, rather than from the table's stream: the code exists in clear
    // only in this invocation, and the stream (and the bus) carry only what is stored.
    try {
      await deps.verification.sender.send(verificationMail(created, request.verifyUrl(created.id, code)));
    } catch (error) {
      // Taken back so that the visitor can simply try again; never left holding the name.
      await deps.store
        .discardPending(created)
        .catch((discardError: unknown) =>
          deps.logger?.error('Could not take back an unconfirmed signup', { tenantId: created.id, error: discardError }),
        );
      throw new EmailUnavailableError({ cause: error });
    }
  }
  return { tenant: created, token };
}

/**
 * The plan a visitor may sign up for: a public one, or the default when none is named. Plans
 * given by operators only are refused as if they did not exist.
 */
export function signupPlan(plans: PlanCatalog, name: string | undefined): PlanDefinition {
  if (name === undefined) return defaultPlan(plans);
  const offered = publicPlans(plans);
  const plan = offered.find((candidate) => candidate.name === name);
  if (plan) return plan;
  const names = offered.map((candidate) => candidate.name).join(', ');
  throw new ValidationError(`Invalid signup: plan "${name}" is not offered; choose one of: ${names}.`, {
    plan: `must be one of: ${names}`,
  });
}

function verificationMail(tenant: Tenant, link: string) {
  return {
    to: tenant.email,
    subject: `Confirm your trial "${tenant.id}"`,
    text: [
      `Someone, hopefully you, asked for a trial named "${tenant.id}" with this email address.`,
      '',
      'Open this link to confirm the address and start the trial:',
      link,
      '',
      'The link works for 24 hours. If you did not ask for a trial, ignore this mail: nothing starts without the link.',
    ].join('\n'),
  };
}
