import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { DescribeAccessPointsCommand, EFSClient } from '@aws-sdk/client-efs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcilerDeps } from '../../shared/adapters/aws/composition/reconcile.js';
import { sweepDeps } from '../../shared/adapters/aws/composition/sweep.js';
import { ConfigError, loadReconcilerConfig, type Env } from '../../shared/config.js';
import { reconcilerEnv } from '../support/reconciler-env.js';
import { CloudUnavailableError } from '../../shared/domain/errors.js';

const efs = mockClient(EFSClient);

const stateless: Env = reconcilerEnv();

const withData: Env = {
  ...stateless,
  DORMOUSE_DATA_PATH: '/data',
  DORMOUSE_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  DORMOUSE_DATA_FUNCTION: 'dormouse-prod-DataCleaner',
};

const clients = () => ({
  ecsClient: new ECSClient({ region: 'eu-west-1' }),
  elbClient: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
  efsClient: new EFSClient({ region: 'eu-west-1' }),
  lambdaClient: new LambdaClient({ region: 'eu-west-1' }),
  cloudWatchClient: new CloudWatchClient({ region: 'eu-west-1' }),
});

beforeEach(() => {
  efs.reset();
});

describe('loadReconcilerConfig: persistent data', () => {
  it('is stateless without a data path, with the stop-first handover as default', () => {
    const config = loadReconcilerConfig(stateless);

    expect(config.storage).toBeUndefined();
    expect(config.handover).toBe('stop-first');
  });

  it('reads the data path, the file system, the cleaner function and the handover', () => {
    const config = loadReconcilerConfig({ ...withData, DORMOUSE_HANDOVER: 'overlap' });

    expect(config.storage).toEqual({
      dataPath: '/data',
      fileSystemId: 'fs-0123456789abcdef0',
      dataFunction: 'dormouse-prod-DataCleaner',
    });
    expect(config.handover).toBe('overlap');
  });

  it('names the variables a data path needs when they are missing', () => {
    const load = () => loadReconcilerConfig({ ...stateless, DORMOUSE_DATA_PATH: '/data' });

    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/DORMOUSE_FILE_SYSTEM_ID: is required when DORMOUSE_DATA_PATH is set/);
    expect(load).toThrow(/DORMOUSE_DATA_FUNCTION: is required/);
  });

  it.each([
    ['DORMOUSE_DATA_PATH', 'data'],
    ['DORMOUSE_FILE_SYSTEM_ID', 'my-files'],
    ['DORMOUSE_HANDOVER', 'stop-last'],
  ])('refuses a malformed %s, naming it', (name, value) => {
    expect(() => loadReconcilerConfig({ ...withData, [name]: value })).toThrow(new RegExp(`${name}: `));
  });
});

describe('the reconciler and the sweep wired to EFS', () => {
  it('have no storage and no persistent data without a data path', () => {
    const deps = reconcilerDeps(loadReconcilerConfig(stateless), clients());
    const sweep = sweepDeps(loadReconcilerConfig(stateless), { loadBalancerFullName: 'app/dormouse/50dc6c495c0c9188' }, clients());

    expect(deps.storage).toBeUndefined();
    expect(deps.settings.persistentData).toBe(false);
    expect(sweep.drift?.storage).toBeUndefined();
  });

  it('have storage, persistent data and the configured handover with a data path', () => {
    const deps = reconcilerDeps(loadReconcilerConfig({ ...withData, DORMOUSE_HANDOVER: 'overlap' }), clients());

    expect(deps.storage).toBeDefined();
    expect(deps.settings).toMatchObject({ persistentData: true, handover: 'overlap' });
  });

  it("give the sweep the installation's file system as its storage inventory, errors translated", async () => {
    // Prepare
    efs.on(DescribeAccessPointsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));
    const deps = sweepDeps(loadReconcilerConfig(withData), { loadBalancerFullName: 'app/dormouse/50dc6c495c0c9188' }, clients());

    // Act
    const failed = await deps.drift?.storage?.managedTenants().catch((error: unknown) => error);

    // Assess
    expect(failed).toBeInstanceOf(CloudUnavailableError);
    expect(efs).toHaveReceivedCommandWith(DescribeAccessPointsCommand, { FileSystemId: 'fs-0123456789abcdef0' });
  });
});
