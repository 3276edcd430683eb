/**
 * Errors the control plane expects. Each carries the HTTP status it maps to and whether its
 * message may be shown to the caller (`expose`); anything else is an internal error whose
 * details go to the log only.
 */
export class DormouseError extends Error {
  readonly status: number;
  readonly code: string;
  readonly expose: boolean;
  readonly fields?: Record<string, string>;

  constructor(message: string, opts: { status: number; code: string; expose?: boolean; fields?: Record<string, string>; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = 'DormouseError';
    this.status = opts.status;
    this.code = opts.code;
    this.expose = opts.expose ?? opts.status < 500;
    if (opts.fields) this.fields = opts.fields;
  }
}

export class ValidationError extends DormouseError {
  constructor(message: string, fields?: Record<string, string>) {
    super(message, { status: 400, code: 'invalid_request', ...(fields ? { fields } : {}) });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends DormouseError {
  constructor(message: string) {
    super(message, { status: 404, code: 'not_found' });
    this.name = 'NotFoundError';
  }
}

/** The one answer for a tenant that does not exist (or that the caller may not know exists). */
export function noSuchTenant(id: string): NotFoundError {
  return new NotFoundError(`There is no tenant "${id}".`);
}

export class ConflictError extends DormouseError {
  constructor(message: string, code = 'conflict', fields?: Record<string, string>) {
    super(message, { status: 409, code, ...(fields ? { fields } : {}) });
    this.name = 'ConflictError';
  }
}

export class SlugTakenError extends ConflictError {
  constructor(readonly slug: string) {
    super(`The name "${slug}" is already taken. Choose another one.`, 'slug_taken', {
      slug: 'is already taken',
    });
    this.name = 'SlugTakenError';
  }
}

export class QuotaExceededError extends DormouseError {
  constructor(message: string, code: string) {
    super(message, { status: 429, code });
    this.name = 'QuotaExceededError';
  }
}

export class EmailInUseError extends QuotaExceededError {
  constructor() {
    super(
      'This email address already has a trial: one per address, until that trial period ends. Sign up with another address.',
      'trial_exists',
    );
    this.name = 'EmailInUseError';
  }
}

export class TenantCeilingError extends QuotaExceededError {
  constructor(readonly ceiling: number) {
    super('We are not accepting new trials right now because all trial slots are taken. Please try again later.', 'capacity_reached');
    this.name = 'TenantCeilingError';
  }
}

export class UnauthorizedError extends DormouseError {
  constructor(message = 'Send the tenant token or an admin credential in the Authorization header.') {
    super(message, { status: 401, code: 'unauthorized' });
    this.name = 'UnauthorizedError';
  }
}

export class ForbiddenError extends DormouseError {
  constructor(message = 'This credential is not allowed to do that.') {
    super(message, { status: 403, code: 'forbidden' });
    this.name = 'ForbiddenError';
  }
}

/** Another writer changed the record since it was read. Retried from a fresh read. */
export class VersionConflictError extends Error {
  constructor(
    readonly tenantId: string,
    readonly expectedVersion: number,
    options?: { cause?: unknown },
  ) {
    super(`Tenant ${tenantId} changed since version ${expectedVersion} was read`, options);
    this.name = 'VersionConflictError';
  }
}

/** Every routing slot of the load balancer is taken; the tenant waits in the queue. */
export class SlotsFullError extends Error {
  constructor(
    readonly maxActiveTenants: number,
    options?: { cause?: unknown },
  ) {
    super(`All ${maxActiveTenants} routing slots are in use`, options);
    this.name = 'SlotsFullError';
  }
}

/**
 * The load balancer has no room for another active tenant (a limit of the load balancer or the
 * account, not a fault). Not retried as such: the reconciler queues the tenant.
 */
export class RoutingCapacityError extends Error {
  constructor(
    readonly tenantId: string,
    /** The provider's own name for the limit it reported, for logs and operators. */
    readonly limit: string,
    options?: { cause?: unknown },
  ) {
    super(`No routing capacity for tenant ${tenantId}: the load balancer reported ${limit}`, options);
    this.name = 'RoutingCapacityError';
  }
}

/** The target group does not exist (deleted by hand, or a fresh local gateway). */
export class TargetGroupNotFoundError extends Error {
  constructor(
    readonly targetGroupArn: string,
    options?: { cause?: unknown },
  ) {
    super(`Target group ${targetGroupArn} does not exist`, options);
    this.name = 'TargetGroupNotFoundError';
  }
}

/** A host rule still forwards to the target group, so it cannot be deleted yet. */
export class TargetGroupInUseError extends Error {
  constructor(
    readonly targetGroupArn: string,
    options?: { cause?: unknown },
  ) {
    super(`Target group ${targetGroupArn} is used by a host rule; delete the rule first`, options);
    this.name = 'TargetGroupInUseError';
  }
}

/**
 * A cloud call failed. Adapters translate their provider's errors into these two kinds, once,
 * so that nobody above them matches an AWS exception name or status code.
 */
export abstract class CloudError extends Error {
  constructor(
    message: string,
    /** What Dormouse was doing, in words ("start tasks"). */
    readonly operation: string,
    /** The provider's own name for the error, for logs and operators. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throttling, a 5xx, a timeout: retrying later is expected to work. Backs off quietly. */
export class CloudUnavailableError extends CloudError {
  constructor(operation: string, code: string, options?: { cause?: unknown }) {
    super(`AWS could not ${operation} right now (${code}); retrying later.`, operation, code, options);
    this.name = 'CloudUnavailableError';
  }
}

/**
 * Denied or invalid: the same request will fail again until a person changes something (an IAM
 * policy, a setting). It counts as a failed attempt, so a tenant ends Failed instead of retrying
 * for ever; the message is the sentence that person needs.
 */
export class CloudRefusedError extends CloudError {
  constructor(message: string, operation: string, code: string, options?: { cause?: unknown }) {
    super(message, operation, code, options);
    this.name = 'CloudRefusedError';
  }
}

/**
 * An AWS resource found by the name Dormouse gives a tenant's resource carries another tenant's
 * or installation's tags (or none). It is refused: never adopted, changed or removed. Retrying
 * does not help, so it counts as a refused step: a person has to look at the resource.
 */
export class ForeignResourceError extends CloudRefusedError {
  constructor(
    readonly kind: 'target group' | 'rule' | 'task' | 'access point' | 'task definition' | 'DNS record',
    readonly resource: string,
    readonly tenantId: string,
    readonly found: { tenantId: string | undefined; installation: string | undefined },
  ) {
    super(
      `The ${kind} ${resource} belongs to another tenant or installation; Dormouse will not use it for tenant ${tenantId}.`,
      `use the ${kind} ${resource}`,
      'ForeignResource',
    );
    this.name = 'ForeignResourceError';
  }
}

/** One client sent more signups than it may in the current window. */
export class RateLimitedError extends DormouseError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `Too many signups from your network. Try again in ${Math.ceil(retryAfterSeconds / 60)} minutes.`,
  ) {
    super(message, {
      status: 429,
      code: 'rate_limited',
    });
    this.name = 'RateLimitedError';
  }
}

/** The verification mail could not be sent; the signup was taken back so it can be retried. */
export class EmailUnavailableError extends DormouseError {
  constructor(options?: { cause?: unknown }) {
    super('We could not send the confirmation email just now. Please try again in a few minutes.', {
      status: 503,
      code: 'email_unavailable',
      expose: true,
      ...(options?.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.name = 'EmailUnavailableError';
  }
}

/** A command for a signup whose email address is not confirmed yet. */
export class VerificationPendingError extends ConflictError {
  constructor(slug: string) {
    super(
      `Tenant "${slug}" waits for its email address to be confirmed; open the link we sent. Unconfirmed signups expire after 24 hours.`,
      'verification_pending',
    );
    this.name = 'VerificationPendingError';
  }
}

/** An archive that cannot be restored as it is (a path outside the tenant's directory, a link, too big). */
export class ArchiveRejectedError extends DormouseError {
  constructor(message: string) {
    super(message, { status: 400, code: 'archive_rejected' });
    this.name = 'ArchiveRejectedError';
  }
}
