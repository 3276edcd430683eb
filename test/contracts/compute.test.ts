import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunTaskCommand } from '@aws-sdk/client-ecs';
import { startedBy, taskGroup } from '../../shared/adapters/common/names.js';
import { ProcessCompute } from '../../shared/adapters/local/process-compute.js';
import { awsAdaptersOver, manualAwsModel } from '../support/aws-adapters.js';
import { CLUSTER } from '../support/aws-model.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { describeComputeContract } from './compute.contract.js';

describeComputeContract(
  'EcsCompute over the AWS model',
  async () => {
    const { model, advance } = manualAwsModel();
    return {
      compute: awsAdaptersOver(model, 'contract').compute,
      otherInstallation: awsAdaptersOver(model, 'neighbour').compute,
      plantUntaggedTask: async (tenantId) => {
        await model.ecsClient.send(
          new RunTaskCommand({
            cluster: CLUSTER,
            taskDefinition: 'by-hand',
            startedBy: startedBy('contract', tenantId),
            group: taskGroup(tenantId),
            clientToken: 'by-hand',
          }),
        );
      },
      step: async () => advance(5_000),
      unknownTaskArn: 'arn:aws:ecs:us-east-1:123456789012:task/dormouse-tenants/00000000000000000000000000000000',
      close: async () => model.restore(),
    };
  },
  ['otherInstallation', 'resourcesByHand'],
);

describeComputeContract('ProcessCompute (embedded mode)', async () => {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'dormouse-contract-'));
  const compute = new ProcessCompute({ runtimeDir, stopGraceMs: 1_000, logger: { warn: () => {} } });
  return {
    compute,
    step: () => new Promise((resolve) => setTimeout(resolve, 50)),
    unknownTaskArn: 'local:task/nobody/1',
    close: async () => {
      await compute.stopAll();
      await rm(runtimeDir, { recursive: true, force: true });
    },
  };
});

describeComputeContract('FakeCloud (use-case tests)', async () => {
  const cloud = new FakeCloud();
  return {
    compute: cloud,
    step: async () => cloud.tick(),
    unknownTaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/999',
    close: async () => {},
  };
});
