import { describe, expect, it } from 'vitest';
import { MAX_DETAIL_LENGTH, redactAwsIdentifiers, redactDetail, redactSecrets } from '../../shared/domain/redaction.js';

const ACCESS_DENIED =
  'AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/dormouse-ReconcileRole-1X2Y3Z/dormouse-reconcile ' +
  'is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:eu-west-1:123456789012:task-definition/dormouse-tenant:3 ' +
  'because no identity-based policy allows the ecs:RunTask action (account 123456789012)';

describe('redactSecrets', () => {
  it('hides the user and password of a URL and keeps where it points', () => {
    expect(redactSecrets('could not connect to postgres://app:S3cretPassw0rd@db:5432/app: refused')).toBe(
      'could not connect to postgres://***@db:5432/app: refused',
    );
  });

  it('hides a password that itself contains an @', () => {
    expect(redactSecrets('DATABASE_URL=mysql://root:p@ss@db/app')).not.toMatch(/p@ss|root/);
  });

  it.each([
    ['password=hunter2 retrying', 'password=*** retrying'],
    ['DB_PASSWORD: hunter2', 'DB_PASSWORD: ***'],
    ['{"apiKey": "abc123", "user": "ann"}', '{"apiKey": ***, "user": "ann"}'],
    ["client_secret='xyz' scope=read", 'client_secret=*** scope=read'],
    ['STRIPE_TOKEN=sk_live_abc, next', 'STRIPE_TOKEN=***, next'],
    ['aws_credentials=foo&region=eu', 'aws_credentials=***&region=eu'],
    ['Authorization: Bearer eyJhbGciOi.payload.sig', 'Authorization: *** ***'],
    ['key AKIAIOSFODNN7EXAMPLE leaked', 'key *** leaked'],
    ['aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key ***'],
    ['mysqld --password hunter2 --user app', 'mysqld --password *** --user app'],
    ['git: using ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'git: using ***'],
    ['OPENAI said: bad key sk-proj-abcdefghijklmnop1234', 'OPENAI said: bad key ***'],
  ])('hides the secret in %s', (text, redacted) => {
    expect(redactSecrets(text)).toBe(redacted);
  });

  it('leaves ordinary text, and AWS identifiers, alone', () => {
    const text = 'The application exited with code 1 (user=ann, port: 8080); the key was wrong. arn:aws:iam::123456789012:role/x';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactAwsIdentifiers', () => {
  it('hides every ARN and account id of an AccessDenied message and keeps the denied action', () => {
    const redacted = redactAwsIdentifiers(ACCESS_DENIED);

    expect(redacted).not.toMatch(/123456789012|arn:aws|ReconcileRole|task-definition/);
    expect(redacted).toContain('is not authorized to perform: ecs:RunTask on resource: arn:***');
  });
});

describe('redactDetail', () => {
  it('shows an admin the AWS identifiers, and the token holder neither them nor the secrets', () => {
    const text = `postgres://app:S3cretPassw0rd@db:5432/app; ${ACCESS_DENIED}`;

    const admin = redactDetail(text, 'admin');
    const owner = redactDetail(text, 'owner');

    expect(admin).toContain('arn:aws:sts::123456789012:assumed-role/dormouse-ReconcileRole-1X2Y3Z/dormouse-reconcile');
    for (const shown of [admin, owner]) expect(shown).not.toContain('S3cretPassw0rd');
    expect(owner).not.toMatch(/123456789012|arn:aws/);
  });

  it(`cuts a detail longer than ${MAX_DETAIL_LENGTH} characters`, () => {
    const shown = redactDetail(`Traceback: ${'x'.repeat(5_000)}`, 'owner');

    expect(shown).toHaveLength(MAX_DETAIL_LENGTH);
    expect(shown.endsWith('…')).toBe(true);
  });
});
