import { timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ForbiddenError, UnauthorizedError } from '../domain/errors.js';
import type { Audience, Tenant } from '../domain/tenant.js';
import { tokenMatches } from '../app/tokens.js';
import { bearerToken } from './request.js';

/** Who sent a request, before we know which tenant it is about. */
export type Caller =
  | { kind: 'admin'; principal: string }
  /** Signed with IAM, but not by a principal on the admin allowlist. */
  | { kind: 'unlisted'; principal: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'anonymous' };

/** Who may act as admin: IAM principals on the allowlist, and locally a bearer token. */
export interface AdminCredentials {
  adminToken?: string;
  /** IAM role and user ARNs (`adminPrincipals`). */
  adminPrincipals: readonly string[];
}

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
 * the request context; a client cannot forge that. The authorizer lets through any principal
 * of the account whose IAM policy allows execute-api:Invoke (HTTP APIs take no resource
 * policy), so only those on the allowlist are admins. Embedded mode has no IAM, so an admin
 * bearer token stands in for it when one is configured.
 */
export function identifyCaller(event: APIGatewayProxyEventV2, { adminToken, adminPrincipals }: AdminCredentials): Caller {
  const iam = (event.requestContext as IamAuthorizerContext).authorizer?.iam;
  if (iam?.userArn || iam?.callerId) {
    const principal = iam.userArn ?? iam.callerId ?? 'iam';
    return iam.userArn && isListed(iam.userArn, adminPrincipals) ? { kind: 'admin', principal } : { kind: 'unlisted', principal };
  }
  const token = bearerToken(event);
  if (token === undefined) return { kind: 'anonymous' };
  if (adminToken && sameSecret(token, adminToken)) return { kind: 'admin', principal: 'admin-token' };
  return { kind: 'bearer', token };
}

/**
 * Whether the signer `userArn` is one of `allowed`. A role signs as one of its sessions,
 * `arn:aws:sts::<account>:assumed-role/<name>/<session>`, which carries neither the role's path
 * nor `iam`: it matches `arn:aws:iam::<account>:role/<path/><name>`. Users sign as themselves.
 */
export function isListed(userArn: string, allowed: readonly string[]): boolean {
  const signer = IAM_ARN.exec(userArn);
  if (!signer) return false;
  const [, partition, account, kind, resource = ''] = signer;
  return allowed.some((entry) => {
    const listed = IAM_ARN.exec(entry);
    if (!listed || listed[1] !== partition || listed[2] !== account) return false;
    const [, , , listedKind, listedResource = ''] = listed;
    if (kind === 'assumed-role') {
      const roleName = resource.split('/')[0];
      return listedKind === 'role' && listedResource.split('/').at(-1) === roleName;
    }
    return listedKind === kind && listedResource === resource;
  });
}

/** `arn:<partition>:iam|sts::<account>:<role|user|assumed-role>/<rest>`. */
const IAM_ARN = /^arn:(aws[a-z-]*):(?:iam|sts)::(\d{12}):(role|user|assumed-role)\/(.+)$/;

const UNLISTED = 'This IAM principal is not a Dormouse administrator (it is not in adminPrincipals).';

export function requireAdmin(caller: Caller): void {
  if (caller.kind === 'anonymous')
    throw new UnauthorizedError('This route is for administrators: sign the request with IAM or send the admin token.');
  if (caller.kind === 'unlisted') throw new ForbiddenError(UNLISTED);
  if (caller.kind !== 'admin') throw new ForbiddenError('This route is for administrators; a tenant token is not enough.');
}

/** Fails before any lookup when there is no credential at all. */
export function requireCredential(caller: Caller): void {
  if (caller.kind === 'anonymous') throw new UnauthorizedError();
}

export function authorizeForTenant(caller: Caller, tenant: Tenant): void {
  if (caller.kind === 'admin') return;
  if (caller.kind === 'anonymous') throw new UnauthorizedError();
  if (caller.kind === 'unlisted') throw new ForbiddenError(UNLISTED);
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
