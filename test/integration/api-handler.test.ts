import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { createApiHandler, type ApiHandler } from '../../shared/http/api.js';
import type { ApiDepsWithArchives } from '../../shared/adapters/aws/composition/api.js';
import { apiEvent, body, context } from '../support/api-events.js';
import { lambdaApiDeps } from '../support/api-lambda.js';
import { mockClient } from 'aws-sdk-client-mock';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';

let handler: ApiHandler;
let logged: Array<Record<string, unknown>>;
let deps: ApiDepsWithArchives;

beforeAll(async () => {
  const logger = new Logger({ serviceName: 'dormouse-api', logLevel: 'INFO' });
  logged = [];
  // Capture the structured JSON lines the logger prints (errors go to stderr).
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = chunk.toString();
      if (!text.startsWith('{"level"')) return write(chunk, ...(rest as []));
      logged.push(JSON.parse(text));
      return true;
    });
  }
  deps = await lambdaApiDeps(
    {
      DORMOUSE_ADMIN_PRINCIPALS: 'arn:aws:iam::123456789012:user/ops,arn:aws:iam::123456789012:role/DormouseAdmin',
      // As on Lambda, where an admin token in the environment must open nothing.
      DORMOUSE_ADMIN_TOKEN: 'the-admin-token-of-a-careless-operator',
    },
    { logger },
  );
  handler = createApiHandler(deps);
});

describe('the API handler on AWS', () => {
  it('builds tenant URLs from the configured root domain', async () => {
    const response = await handler(apiEvent('POST', '/tenants', { body: { slug: 'globex', email: 'hank@globex.test' } }), context());

    expect(response.statusCode).toBe(202);
    expect(body(response).url).toBe('https://globex.trials.example.com');
  });

  it('treats an IAM-signed caller as admin, as the HTTP API IAM authorizer reports it', async () => {
    const list = await handler(apiEvent('GET', '/admin/tenants', { iamUser: 'arn:aws:iam::123456789012:user/ops' }), context());
    const remove = await handler(apiEvent('DELETE', '/admin/tenants/globex', { iamUser: 'arn:aws:iam::123456789012:user/ops' }), context());

    expect(list.statusCode).toBe(200);
    expect(body(list).items.map((item: { id: string }) => item.id)).toContain('globex');
    expect(remove.statusCode).toBe(202);
    expect(body(remove).desired).toBe('deleted');
  });

  it('has no admin bearer token on AWS: /admin without IAM is refused', async () => {
    const response = await handler(apiEvent('GET', '/admin/tenants', { token: 'guess-the-admin-token' }), context());

    expect(response.statusCode).toBe(403);
  });

  it('serves the signup page with HSTS when tenants are served over HTTPS, and without it over plain HTTP', async () => {
    const plain = createApiHandler({ ...deps, config: { ...deps.config, baseUrl: new URL('http://trials.example.com') } });

    const secure = await handler(apiEvent('GET', '/'), context());
    const insecure = await plain(apiEvent('GET', '/'), context());

    expect(secure.headers?.['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(insecure.headers).not.toHaveProperty('strict-transport-security');
  });

  it('ignores DORMOUSE_ADMIN_TOKEN on Lambda, even when it is set', async () => {
    const response = await handler(apiEvent('GET', '/admin/tenants', { token: 'the-admin-token-of-a-careless-operator' }), context());
    const remove = await handler(apiEvent('DELETE', '/tenants/globex', { token: 'the-admin-token-of-a-careless-operator' }), context());

    expect(response.statusCode).toBe(403);
    expect(remove.statusCode).toBe(403);
  });

  it('admits a session of a listed role and refuses an IAM signer that is not listed with 403', async () => {
    const listed = await handler(
      apiEvent('GET', '/admin/tenants', { iamUser: 'arn:aws:sts::123456789012:assumed-role/DormouseAdmin/alice' }),
      context(),
    );
    const unlisted = await handler(
      apiEvent('GET', '/admin/tenants', { iamUser: 'arn:aws:sts::123456789012:assumed-role/SomeDeveloper/bob' }),
      context(),
    );

    expect(listed.statusCode).toBe(200);
    expect(unlisted.statusCode).toBe(403);
    expect(body(unlisted).error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/not a Dormouse administrator/) });
  });

  it('puts the tenant id on every log line of a request about a tenant', async () => {
    logged.length = 0;
    await handler(apiEvent('POST', '/tenants', { body: { slug: 'initech', email: 'bill@initech.test' } }), context());
    await handler(apiEvent('POST', '/tenants/initech/passivate', { iamUser: 'arn:aws:iam::123456789012:user/ops' }), context());

    expect(logged.length).toBeGreaterThanOrEqual(2);
    expect(logged.every((line) => line.tenantId === 'initech')).toBe(true);
    expect(logged.map((line) => line.message)).toEqual(['Tenant signed up', 'Expected state changed']);
  });

  it('answers an unexpected failure with a generic 500 and keeps the details in the log', async () => {
    const failing = createApiHandler({
      ...deps,
      store: { ...deps.store, get: async () => Promise.reject(new Error('socket hang up: table dormouse-secret')) },
    });
    logged.length = 0;

    const response = await failing(apiEvent('GET', '/tenants/initech'), context());

    expect(response.statusCode).toBe(500);
    expect(body(response)).toEqual({ error: { code: 'internal_error', message: 'Something went wrong on our side.' } });
    expect(response.body).not.toContain('dormouse-secret');
    expect(JSON.stringify(logged)).toContain('dormouse-secret');
  });
});

describe('the API handler on AWS with email verification', () => {
  const ses = mockClient(SESv2Client);
  let verifying: ApiHandler;

  beforeAll(async () => {
    verifying = createApiHandler(await lambdaApiDeps({ DORMOUSE_VERIFY_EMAIL: 'true', DORMOUSE_EMAIL_SENDER: 'trials@example.com' }));
  });

  const signupEvent = (slug: string) => {
    const event = apiEvent('POST', '/tenants', { body: { slug, email: `${slug}@example.test` } });
    event.headers.host = 'abc123.execute-api.eu-west-1.amazonaws.com';
    event.headers['x-forwarded-proto'] = 'https';
    return event;
  };

  it('mails a link back to the API through SES from the configured sender', async () => {
    ses.reset();
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });

    const response = await verifying(signupEvent('mailed'), context());

    expect(response.statusCode).toBe(202);
    expect(body(response).phase).toBe('PendingVerification');
    const sent = ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
    expect(sent).toEqual([
      {
        FromEmailAddress: 'trials@example.com',
        Destination: { ToAddresses: ['mailed@example.test'] },
        Content: {
          Simple: {
            Subject: { Data: 'Confirm your trial "mailed"', Charset: 'UTF-8' },
            Body: { Text: { Data: expect.any(String), Charset: 'UTF-8' } },
          },
        },
      },
    ]);
    expect(sent[0]!.Content!.Simple!.Body!.Text!.Data).toMatch(
      /\nhttps:\/\/abc123\.execute-api\.eu-west-1\.amazonaws\.com\/verify\?tenant=mailed&code=[A-Za-z0-9_-]{32}\n/,
    );
  });

  it('takes the signup back and answers 503 when the mail cannot be sent, so the same signup can be retried', async () => {
    ses.reset();
    ses
      .on(SendEmailCommand)
      .rejectsOnce(Object.assign(new Error('Daily sending quota exceeded.'), { name: 'LimitExceededException' }))
      .resolves({});

    const failed = await verifying(signupEvent('unmailed'), context());
    const retried = await verifying(signupEvent('unmailed'), context());

    expect(failed.statusCode).toBe(503);
    expect(body(failed).error.code).toBe('email_unavailable');
    expect(failed.body).not.toContain('quota');
    expect(retried.statusCode).toBe(202);
  });

  it('has no outbox on AWS', async () => {
    const response = await verifying(apiEvent('GET', '/outbox'), context());

    expect(response.statusCode).toBe(404);
  });
});
