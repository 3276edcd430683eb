import { afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchLogsClient, FilterLogEventsCommand, ThrottlingException } from '@aws-sdk/client-cloudwatch-logs';
import { CloudUnavailableError } from '../../shared/domain/errors.js';
import { createApiHandler } from '../../shared/http/api.js';
import type { TenantLogs } from '../../shared/ports/tenant-logs.js';
import { apiEvent, body, context } from '../support/api-events.js';
import { lambdaApiDeps } from '../support/api-lambda.js';

const cloudWatchLogs = mockClient(CloudWatchLogsClient);

afterEach(() => {
  cloudWatchLogs.reset();
});

describe('a cloud service behind a route that is throttling', () => {
  it('reaches the API as a CloudUnavailableError from the CloudWatch Logs adapter the API function wires', async () => {
    cloudWatchLogs
      .on(FilterLogEventsCommand)
      .rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));
    const { logs } = await lambdaApiDeps({ DORMOUSE_TENANT_LOG_GROUP: '/dormouse/trials/tenants' });

    const reading = logs!.read({ tenantId: 'acme', tasks: ['0123456789abcdef'] }, { limit: 10 });

    await expect(reading).rejects.toBeInstanceOf(CloudUnavailableError);
    await expect(reading).rejects.toMatchObject({ operation: 'read the tenant’s logs', code: 'ThrottlingException' });
  });

  it('is answered 503 with Retry-After, saying nothing of the service', async () => {
    const throttled: TenantLogs = {
      read: async () => {
        throw new CloudUnavailableError('read the tenant’s logs', 'ThrottlingException');
      },
    };
    const handler = createApiHandler(await lambdaApiDeps({}, { logs: throttled }));
    const signup = await handler(apiEvent('POST', '/tenants', { body: { slug: 'acme', email: 'ann@acme.test' } }), context());

    const response = await handler(apiEvent('GET', '/tenants/acme/logs', { token: body(signup).token }), context());

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
    expect(body(response)).toEqual({ error: { code: 'busy', message: 'This is busy right now; try again in a few seconds.' } });
  });
});
