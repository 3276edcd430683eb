import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../../shared/config.js';
import { ForbiddenError } from '../../shared/domain/errors.js';
import { identifyCaller, isListed, requireAdmin } from '../../shared/http/caller.js';

const ADMIN_ROLE = 'arn:aws:iam::123456789012:role/ops/DormouseAdmin';
const ADMIN_USER = 'arn:aws:iam::123456789012:user/alice';
const ALLOWED = [ADMIN_ROLE, ADMIN_USER];
const TOKEN = 'local-admin-token-0123456789';

/** What the HTTP API's IAM authorizer puts in the request context, or a bearer token. */
function request({ userArn, token }: { userArn?: string; token?: string }): APIGatewayProxyEventV2 {
  return {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    requestContext: userArn ? { authorizer: { iam: { userArn, callerId: 'AROAEXAMPLE:session' } } } : {},
  } as unknown as APIGatewayProxyEventV2;
}

describe('the admin allowlist', () => {
  it('admits a session of a listed role, as the IAM authorizer reports it (assumed-role ARN, no path)', () => {
    const caller = identifyCaller(request({ userArn: 'arn:aws:sts::123456789012:assumed-role/DormouseAdmin/alice@example.com' }), {
      adminPrincipals: ALLOWED,
    });

    expect(caller).toEqual({ kind: 'admin', principal: 'arn:aws:sts::123456789012:assumed-role/DormouseAdmin/alice@example.com' });
    expect(() => requireAdmin(caller)).not.toThrow();
  });

  it('admits a listed user by its exact ARN', () => {
    expect(identifyCaller(request({ userArn: ADMIN_USER }), { adminPrincipals: ALLOWED }).kind).toBe('admin');
  });

  it('refuses any other IAM signer with 403: another role, the same role name in another account, another user', () => {
    for (const userArn of [
      'arn:aws:sts::123456789012:assumed-role/ReadOnly/alice',
      'arn:aws:sts::210987654321:assumed-role/DormouseAdmin/mallory',
      'arn:aws:iam::123456789012:user/bob',
      'arn:aws:iam::123456789012:user/other/alice',
      'arn:aws:iam::123456789012:root',
    ]) {
      const caller = identifyCaller(request({ userArn }), { adminPrincipals: ALLOWED });

      expect(caller.kind, userArn).toBe('unlisted');
      expect(() => requireAdmin(caller), userArn).toThrow(ForbiddenError);
    }
  });

  it('admits no IAM signer at all when the list is empty', () => {
    expect(identifyCaller(request({ userArn: ADMIN_USER }), { adminPrincipals: [] }).kind).toBe('unlisted');
  });

  it('matches roles by name, with or without a path, and never a user against a role', () => {
    expect(isListed('arn:aws:sts::123456789012:assumed-role/DormouseAdmin/s', ['arn:aws:iam::123456789012:role/DormouseAdmin'])).toBe(true);
    expect(isListed('arn:aws:sts::123456789012:assumed-role/DormouseAdmin/s', ['arn:aws:iam::123456789012:role/a/b/DormouseAdmin'])).toBe(
      true,
    );
    expect(isListed('arn:aws:sts::123456789012:assumed-role/Dormouse/s', ['arn:aws:iam::123456789012:role/DormouseAdmin'])).toBe(false);
    expect(isListed('arn:aws:iam::123456789012:user/DormouseAdmin', ['arn:aws:iam::123456789012:role/DormouseAdmin'])).toBe(false);
    expect(isListed('arn:aws-cn:sts::123456789012:assumed-role/DormouseAdmin/s', ['arn:aws:iam::123456789012:role/DormouseAdmin'])).toBe(
      false,
    );
  });
});

describe('the admin token', () => {
  const env = {
    DORMOUSE_TABLE_NAME: 'tenants',
    DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'idempotency',
    DORMOUSE_BASE_URL: 'https://trials.example.com',
    DORMOUSE_ADMIN_TOKEN: TOKEN,
  };

  it('is admin in embedded mode', () => {
    const config = loadApiConfig(env);

    expect(identifyCaller(request({ token: TOKEN }), config)).toEqual({ kind: 'admin', principal: 'admin-token' });
    expect(config.warnings).toEqual([]);
  });

  it('is ignored on Lambda, with a warning to log, so the same header is a mere bearer token there', () => {
    const config = loadApiConfig({ ...env, AWS_LAMBDA_FUNCTION_NAME: 'Dormouse-ControlPlaneApi' });

    expect(config.adminToken).toBeUndefined();
    expect(config.warnings).toEqual([expect.stringMatching(/^DORMOUSE_ADMIN_TOKEN is ignored on AWS Lambda/)]);
    expect(identifyCaller(request({ token: TOKEN }), config)).toEqual({ kind: 'bearer', token: TOKEN });
  });

  it('reads the allowlist from DORMOUSE_ADMIN_PRINCIPALS and names the variable when an entry is not an IAM ARN', () => {
    expect(loadApiConfig({ ...env, DORMOUSE_ADMIN_PRINCIPALS: `${ADMIN_ROLE}, ${ADMIN_USER}` }).adminPrincipals).toEqual(ALLOWED);
    expect(loadApiConfig(env).adminPrincipals).toEqual([]);
    expect(() => loadApiConfig({ ...env, DORMOUSE_ADMIN_PRINCIPALS: 'DormouseAdmin' })).toThrow(
      /DORMOUSE_ADMIN_PRINCIPALS: must be IAM role or user ARNs/,
    );
  });
});
