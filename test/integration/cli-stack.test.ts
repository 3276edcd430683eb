import 'aws-sdk-client-mock-vitest/extend';
import { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signingForwarder } from '../../cli/aws-target.js';
import { EXIT } from '../../cli/errors.js';
import { runCli } from '../../cli/main.js';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { startTestApi, TEST_ADMIN_TOKEN } from '../support/api-server.js';
import { dormouse } from '../support/cli.js';
import { startSigV4Verifier } from '../support/sigv4-verifier.js';

const REGION = 'eu-west-1';
const STACK = 'dormouse-test';
const OPERATOR = {
  accessKeyId: 'ASIAOPERATOREXAMPLE1',
  secretAccessKey: 'operator-secret-0123456789',
  sessionToken: 'operator-session-token',
};

/**
 * `--stack`: the API address from the stack's outputs, every admin call signed with the
 * operator's credentials. The loopback stand-in for API Gateway recomputes each signature and
 * passes signed calls to embedded mode's API, so the answers are real.
 */
describe('dormouse --stack', () => {
  const cloudFormation = mockClient(CloudFormationClient);
  let embedded: Embedded;
  let verifier: Awaited<ReturnType<typeof startSigV4Verifier>>;
  let credentials = OPERATOR;
  const onStack = (argv: string[]) =>
    dormouse([...argv, '--stack', STACK, '--region', REGION], {
      cloudFormation: (region) => new CloudFormationClient({ region: region ?? 'us-east-1', credentials }),
    });
  const outputs = (apiUrl: string) => [
    { OutputKey: 'ApiUrl', OutputValue: apiUrl },
    { OutputKey: 'Installation', OutputValue: 'test' },
  ];

  beforeAll(async () => {
    ({ embedded } = await startTestApi());
    verifier = await startSigV4Verifier({
      credentials: OPERATOR,
      region: REGION,
      upstream: ({ method, path, body, signed }) =>
        fetch(new URL(path, embedded.apiUrl), {
          method,
          headers: {
            ...(signed ? { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } : {}),
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          ...(body ? { body } : {}),
        }),
    });
  });
  afterAll(async () => {
    await verifier?.close();
    await embedded?.stop();
  });
  beforeEach(() => {
    credentials = OPERATOR;
    verifier.seen.length = 0;
    cloudFormation.reset();
    cloudFormation.on(DescribeStacksCommand, { StackName: STACK }).resolves({
      Stacks: [{ StackName: STACK, StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: outputs(verifier.url) }],
    });
  });

  it("finds the API in the stack's outputs and signs admin calls under /admin with the operator's credentials", async () => {
    const created = await onStack(['create', 'initech', '--email', 'bill@initech.test']);
    const listed = await onStack(['list', '--phase', 'Pending']);
    const asleep = await onStack(['passivate', 'initech']);

    expect([created.code, listed.code, asleep.code]).toEqual([EXIT.ok, EXIT.ok, EXIT.ok]);
    expect(listed.stdout).toMatch(/^initech +Pending +running +trial /m);
    expect(asleep.stdout).toMatch(/^desired: +passivated$/m);
    expect(cloudFormation).toHaveReceivedCommandTimes(DescribeStacksCommand, 3);
    expect(cloudFormation).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: STACK });
    expect(verifier.seen.map(({ method, path, verdict }) => ({ method, path, verdict }))).toEqual([
      { method: 'POST', path: '/admin/tenants', verdict: 'signed' },
      { method: 'GET', path: '/admin/tenants?limit=100&phase=Pending', verdict: 'signed' },
      { method: 'POST', path: '/admin/tenants/initech/passivate', verdict: 'signed' },
    ]);
    expect(verifier.seen[0]!.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token', 'content-type']));
  });

  it('says the credentials were refused when the signature does not hold', async () => {
    credentials = { ...OPERATOR, secretAccessKey: 'someone-elses-secret' };

    const refused = await onStack(['list']);

    expect(refused.code).toBe(EXIT.denied);
    expect(refused.stderr).toMatch(/^dormouse: Forbidden \(HTTP 403\): check your AWS credentials .* adminPrincipals\.\n$/);
    expect(verifier.seen.map(({ verdict }) => verdict)).toEqual(['bad signature']);
  });

  it('names the stack when it does not exist or is not a Dormouse stack, and sends nothing', async () => {
    cloudFormation.on(DescribeStacksCommand, { StackName: 'nope' }).rejects(
      new CloudFormationServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: {},
        message: 'Stack with id nope does not exist',
      }),
    );
    cloudFormation.on(DescribeStacksCommand, { StackName: 'other' }).resolves({
      Stacks: [
        {
          StackName: 'other',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [{ OutputKey: 'ApiUrl', OutputValue: verifier.url }],
        },
      ],
    });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'plain' }).resolves({
      Stacks: [
        { StackName: 'plain', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: outputs('http://api.example.test/') },
      ],
    });
    const client = () => new CloudFormationClient({ region: REGION, credentials: OPERATOR });

    const missing = await dormouse(['list', '--stack', 'nope'], { cloudFormation: client });
    const foreign = await dormouse(['list', '--stack', 'other'], { cloudFormation: client });
    const cleartext = await dormouse(['list', '--stack', 'plain'], { cloudFormation: client });

    expect([missing.code, foreign.code, cleartext.code]).toEqual([EXIT.notFound, EXIT.notFound, EXIT.refused]);
    expect(missing.stderr).toBe('dormouse: No stack named nope in eu-west-1: check --stack and --region.\n');
    expect(foreign.stderr).toMatch(/^dormouse: Stack other in eu-west-1 is not a Dormouse stack/);
    expect(cleartext.stderr).toMatch(/^dormouse: Stack plain's ApiUrl http:\/\/api\.example\.test\/ is not HTTPS/);
    expect(verifier.seen).toEqual([]);
  });

  it("forwards the console's calls: /tenants… signed under /admin, public routes unsigned", async () => {
    const forward = signingForwarder({ apiUrl: new URL(verifier.url), region: REGION, credentials: OPERATOR });

    const tenants = await forward(new Request('http://127.0.0.1:4000/tenants?limit=5'));
    const plans = await forward(new Request('http://127.0.0.1:4000/plans'));

    expect([tenants.status, plans.status]).toEqual([200, 200]);
    expect(verifier.seen.map(({ path, verdict }) => ({ path, verdict }))).toEqual([
      { path: '/admin/tenants?limit=5', verdict: 'signed' },
      { path: '/plans', verdict: 'unsigned' },
    ]);
  });

  it('serves the console on loopback for a stack, its calls signed, until stopped', async () => {
    const stop = new AbortController();
    let printed = '';
    const running = runCli(['console', '--stack', STACK, '--region', REGION, '--port', '0'], {
      env: {},
      signal: stop.signal,
      cloudFormation: (region) => new CloudFormationClient({ region: region ?? 'us-east-1', credentials }),
      stdout: (text) => (printed += text),
      stderr: (text) => (printed += text),
    });
    await expect.poll(() => printed, { timeout: 10_000 }).toMatch(/http:\/\/127\.0\.0\.1:\d+\/console\?key=[\w-]+/);
    const keyUrl = new URL(/(http:\/\/127\.0\.0\.1:\d+\/console\?key=[\w-]+)/.exec(printed)![1]!);
    const consoleUrl = new URL('/console', keyUrl);

    // As a browser opening the printed address: it keeps the key as a cookie.
    const login = await fetch(keyUrl, { redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const withoutKey = await fetch(consoleUrl);
    const page = await fetch(consoleUrl, { headers: { cookie } });
    const tenants = await fetch(new URL('/tenants', consoleUrl), { headers: { accept: 'application/json', cookie } });

    expect(withoutKey.status).toBe(401);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(tenants.status).toBe(200);
    expect(await tenants.json()).toHaveProperty('items');
    expect(verifier.seen.map(({ path, verdict }) => ({ path, verdict }))).toEqual([{ path: '/admin/tenants', verdict: 'signed' }]);

    stop.abort();
    expect(await running).toBe(EXIT.ok);
    await expect(fetch(consoleUrl)).rejects.toThrow();
  });

  it('says where the embedded console is for a local API, serving nothing itself', async () => {
    const run = await dormouse(['console', '--api', 'http://127.0.0.1:3999']);
    expect(run).toEqual({
      code: EXIT.ok,
      stdout: 'Open http://127.0.0.1:3999/console (it asks for DORMOUSE_ADMIN_TOKEN once).\n',
      stderr: '',
    });
  });
});
