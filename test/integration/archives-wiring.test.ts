import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiDeps } from '../../shared/adapters/aws/composition/api.js';
import { ConfigError, loadApiConfig, loadTenantDataConfig } from '../../shared/config.js';

const s3 = mockClient(S3Client);
const lambda = mockClient(LambdaClient);

const stateless = {
  DORMOUSE_TABLE_NAME: 'tenants',
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'idempotency',
  DORMOUSE_BASE_URL: 'https://trials.example.com',
};
const withData = { ...stateless, DORMOUSE_ARCHIVE_BUCKET: 'dormouse-prod-archives', DORMOUSE_DATA_FUNCTION: 'dormouse-prod-TenantData' };
const ID = '0b8e6a8e-3c1e-4d4e-9a55-8f1c2d3e4f50';

const deps = (env: Record<string, string>) =>
  apiDeps(loadApiConfig(env), {
    dynamoClient: new DynamoDBClient({ region: 'eu-west-1' }),
    logger: new Logger({ serviceName: 'dormouse-api', logLevel: 'SILENT' }),
  });

beforeEach(() => {
  s3.reset();
  lambda.reset();
});

describe('export and restore in the API composition', () => {
  it('offers no archives when the installation keeps no tenant data', () => {
    expect(loadApiConfig(stateless).archives).toBeUndefined();
    expect(deps(stateless).archives).toBeUndefined();
  });

  it('reads the archive bucket and the data function', () => {
    expect(loadApiConfig(withData).archives).toEqual({ bucket: 'dormouse-prod-archives', dataFunction: 'dormouse-prod-TenantData' });
  });

  it.each([
    ['DORMOUSE_ARCHIVE_BUCKET', 'DORMOUSE_DATA_FUNCTION'],
    ['DORMOUSE_DATA_FUNCTION', 'DORMOUSE_ARCHIVE_BUCKET'],
  ])('refuses %s without %s, naming the missing one', (set, missing) => {
    const load = () => loadApiConfig({ ...stateless, [set]: 'x' });

    expect(load).toThrow(ConfigError);
    expect(load).toThrow(new RegExp(`${missing}: is required with ${set}`));
  });

  it('wires S3 and the data function of the configuration into the archives', async () => {
    s3.on(HeadObjectCommand).resolves({});
    lambda.on(InvokeCommand).resolves({ Payload: new TextEncoder().encode('{"files":1,"bytes":2}') as never });

    await expect(deps(withData).archives?.restoreData('acme', ID)).resolves.toEqual({ files: 1, bytes: 2 });

    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: 'dormouse-prod-archives', Key: `restores/acme/${ID}.tar.gz` });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'dormouse-prod-TenantData' });
  });

  it('gives the data function its bucket, and none when unset (it then only removes)', () => {
    expect(loadTenantDataConfig({ DORMOUSE_ARCHIVE_BUCKET: 'dormouse-prod-archives' })).toEqual({
      archiveBucket: 'dormouse-prod-archives',
    });
    expect(loadTenantDataConfig({})).toEqual({});
  });
});
