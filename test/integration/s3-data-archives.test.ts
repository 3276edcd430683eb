import { beforeEach, describe, expect, it } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import { HeadObjectCommand, NotFound, S3Client } from '@aws-sdk/client-s3';
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { DataFunctionError, MAX_UPLOAD_BYTES, S3DataArchives } from '../../shared/adapters/aws/s3-data-archives.js';
import { translatingAwsErrors } from '../../shared/adapters/aws/aws-errors.js';
import { ArchiveRejectedError, CloudRefusedError, NotFoundError } from '../../shared/domain/errors.js';

const s3 = mockClient(S3Client);
const lambda = mockClient(LambdaClient);

const BUCKET = 'dormouse-prod-archives';
const DATA_FUNCTION = 'dormouse-prod-TenantData';
const NOW = new Date('2026-12-06T06:00:00.000Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ID = '0b8e6a8e-3c1e-4d4e-9a55-8f1c2d3e4f50';

function archives(): S3DataArchives {
  return translatingAwsErrors(
    new S3DataArchives({
      s3Client: new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } }),
      lambdaClient: new LambdaClient({ region: 'eu-west-1' }),
      bucket: BUCKET,
      dataFunction: DATA_FUNCTION,
      now: () => NOW,
    }),
  );
}

function answers(payload: unknown, functionError?: string): Partial<InvokeCommandOutput> {
  return {
    StatusCode: 200,
    Payload: new TextEncoder().encode(JSON.stringify(payload)) as never,
    ...(functionError ? { FunctionError: functionError } : {}),
  };
}

function invokedWith(): unknown[] {
  return lambda.commandCalls(InvokeCommand).map((call) => {
    const { Payload, ...rest } = call.args[0].input;
    return { ...rest, Payload: JSON.parse(Payload as string) };
  });
}

beforeEach(() => {
  s3.reset();
  lambda.reset();
});

describe('S3DataArchives', () => {
  it('exports by invoking the data function and waiting for it, then links to the new object for an hour', async () => {
    lambda.on(InvokeCommand).resolves(answers({ bytes: 1234 }));

    const link = await archives().exportData('acme');

    const [invoke] = invokedWith() as [{ Payload: { key: string } }];
    expect(invoke).toEqual({
      FunctionName: DATA_FUNCTION,
      InvocationType: 'RequestResponse',
      Payload: { action: 'export', tenantId: 'acme', key: expect.stringMatching(/^exports\/acme\/[0-9a-f-]{36}\.tar\.gz$/) },
    });
    const url = new URL(link.url);
    expect(url.host).toBe(`${BUCKET}.s3.eu-west-1.amazonaws.com`);
    expect(url.pathname).toBe(`/${invoke.Payload.key}`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261206T060000Z');
    expect(url.searchParams.get('x-id')).toBe('GetObject');
    expect(link.expiresAt).toBe('2026-12-06T07:00:00.000Z');
    expect(s3.calls()).toHaveLength(0);
  });

  it('returns the link anyway when the export takes longer than it waits: the function goes on and the object appears there', async () => {
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => {}));
    const slow = new S3DataArchives({
      s3Client: new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } }),
      lambdaClient: new LambdaClient({ region: 'eu-west-1' }),
      bucket: BUCKET,
      dataFunction: DATA_FUNCTION,
      now: () => NOW,
      exportWaitMs: 20,
    });

    const link = await slow.exportData('acme');

    const [invoke] = invokedWith() as [{ Payload: { key: string } }];
    expect(new URL(link.url).pathname).toBe(`/${invoke.Payload.key}`);
    expect(link.expiresAt).toBe('2026-12-06T07:00:00.000Z');
  });

  it('makes a new key for every export', async () => {
    lambda.on(InvokeCommand).resolves(answers({ bytes: 1 }));

    await archives().exportData('acme');
    await archives().exportData('acme');

    const keys = (invokedWith() as { Payload: { key: string } }[]).map((call) => call.Payload.key);
    expect(new Set(keys).size).toBe(2);
  });

  it('fails the export with the function error when the data function fails', async () => {
    lambda.on(InvokeCommand).resolves(answers({ errorType: 'Error', errorMessage: 'EIO' }, 'Unhandled'));

    await expect(archives().exportData('acme')).rejects.toThrow(DataFunctionError);
  });

  it('gives an upload link: a presigned PUT to restores/<tenant>/<uploadId>.tar.gz for an hour, without calling anything', async () => {
    const link = await archives().uploadLink('acme');

    expect(link.uploadId).toMatch(UUID);
    const url = new URL(link.url);
    expect(url.host).toBe(`${BUCKET}.s3.eu-west-1.amazonaws.com`);
    expect(url.pathname).toBe(`/restores/acme/${link.uploadId}.tar.gz`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(url.searchParams.get('x-id')).toBe('PutObject');
    expect(link.expiresAt).toBe('2026-12-06T07:00:00.000Z');
    expect(s3.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
  });

  it('restores: checks the upload is there, then invokes the data function with its key and answers its counts', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 99 });
    lambda.on(InvokeCommand).resolves(answers({ files: 3, bytes: 4096 }));

    await expect(archives().restoreData('acme', ID)).resolves.toEqual({ files: 3, bytes: 4096 });

    expect(s3).toHaveReceivedCommandExactlyOnceWith(HeadObjectCommand, { Bucket: BUCKET, Key: `restores/acme/${ID}.tar.gz` });
    expect(invokedWith()).toEqual([
      {
        FunctionName: DATA_FUNCTION,
        InvocationType: 'RequestResponse',
        Payload: { action: 'restore', tenantId: 'acme', key: `restores/acme/${ID}.tar.gz` },
      },
    ]);
  });

  it('answers NotFound, and invokes nothing, when nothing was uploaded', async () => {
    s3.on(HeadObjectCommand).rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));

    await expect(archives().restoreData('acme', ID)).rejects.toThrow(NotFoundError);
    expect(lambda.calls()).toHaveLength(0);
  });

  it('refuses an upload larger than any archive within the limits, and invokes nothing', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: MAX_UPLOAD_BYTES + 1 });

    await expect(archives().restoreData('acme', ID)).rejects.toThrow(ArchiveRejectedError);
    expect(lambda.calls()).toHaveLength(0);
  });

  it.each([['../globex/x'], ['latest'], [''], [`${ID}/../x`]])('answers NotFound for upload id %j, and calls nothing', async (uploadId) => {
    await expect(archives().restoreData('acme', uploadId)).rejects.toThrow(NotFoundError);
    expect(s3.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
  });

  it("turns the function's ArchiveRejected answer into ArchiveRejectedError with its message", async () => {
    s3.on(HeadObjectCommand).resolves({});
    const message = 'The archive was not restored: passwd is a SymbolicLink; only files and directories are restored.';
    lambda.on(InvokeCommand).resolves(answers({ error: 'ArchiveRejected', message }));

    const error = await archives()
      .restoreData('acme', ID)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ArchiveRejectedError);
    expect((error as Error).message).toBe(message);
  });

  it("turns the function's NotFound answer (the upload expired meanwhile) into NotFoundError", async () => {
    s3.on(HeadObjectCommand).resolves({});
    lambda.on(InvokeCommand).resolves(answers({ error: 'NotFound', message: 'Nothing was uploaded for tenant "acme" under that id.' }));

    await expect(archives().restoreData('acme', ID)).rejects.toThrow(NotFoundError);
  });

  it('translates AWS refusals, such as a missing permission, into CloudRefusedError', async () => {
    lambda.on(InvokeCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: lambda:InvokeFunction'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    await expect(archives().exportData('acme')).rejects.toThrow(CloudRefusedError);
  });
});
