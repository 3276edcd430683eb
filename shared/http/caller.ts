import { timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ForbiddenError, UnauthorizedError } from '../domain/errors.js';
import type { Audience, Tenant } from '../domain/tenant.js';
import { tokenMatches } from '../app/tokens.js';
import { bearerToken } from './request.js';

/** Who sent a request, before we know which tenant it is about. */
export type Caller =
  | { kind: 'admin'; principal: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'anonymous' };

interface IamAuthorizerContext {
  authorizer?: { iam?: { userArn?: string; callerId?: string } };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * On AWS, admins call routes behind the HTTP API's IAM authorizer, which puts the signer in
 * the request context; a client cannot forge that. Embedded mode has no IAM, so an admin
 * bearer token stands in for it when one is configured.
 */
export function identifyCaller(event: APIGatewayProxyEventV2, adminToken: string | undefined): Caller {
  const iam = (event.requestContext as IamAuthorizerContext).authorizer?.iam;
  if (iam?.userArn || iam?.callerId) return { kind: 'admin', principal: iam.userArn ?? iam.callerId ?? 'iam' };
  const token = bearerToken(event);
  if (token === undefined) return { kind: 'anonymous' };
  if (adminToken && sameSecret(token, adminToken)) return { kind: 'admin', principal: 'admin-token' };
  return { kind: 'bearer', token };
}

export function requireAdmin(caller: Caller): void {
  if (caller.kind === 'anonymous') throw new UnauthorizedError('This route is for administrators: sign the request with IAM or send the admin token.');
  if (caller.kind !== 'admin') throw new ForbiddenError('This route is for administrators; a tenant token is not enough.');
}

/** Fails before any lookup when there is no credential at all. */
export function requireCredential(caller: Caller): void {
  if (caller.kind === 'anonymous') throw new UnauthorizedError();
}

export function authorizeForTenant(caller: Caller, tenant: Tenant): void {
  if (caller.kind === 'admin') return;
  if (caller.kind === 'anonymous') throw new UnauthorizedError();
  if (!tokenMatches(caller.token, tenant.tokenHash)) {
    throw new ForbiddenError(`This token does not belong to tenant "${tenant.id}".`);
  }
}

/**
 * How much of a tenant's error the caller may read. The status route is public: a token that is
 * not this tenant's is no error there, it just reads what anyone reads.
 */
export function audienceOf(caller: Caller, tenant: Tenant): Audience {
  if (caller.kind === 'admin') return 'admin';
  if (caller.kind === 'bearer' && tokenMatches(caller.token, tenant.tokenHash)) return 'owner';
  return 'anonymous';
}
