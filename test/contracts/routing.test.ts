import { CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { INSTALLATION_TAG, TENANT_TAG, targetGroupName } from '../../shared/adapters/common/names.js';
import { GatewayRouting } from '../../shared/adapters/local/gateway-routing.js';
import { VPC_ID } from '../support/aws-model.js';
import { awsAdaptersOver, manualAwsModel } from '../support/aws-adapters.js';
import { FakeCloud } from '../support/fake-cloud.js';
import { describeRoutingContract } from './routing.contract.js';

describeRoutingContract(
  'ElbRouting over the AWS model',
  async () => {
    const { model } = manualAwsModel();
    return {
      routing: awsAdaptersOver(model, 'contract', 3).routing,
      otherInstallation: awsAdaptersOver(model, 'neighbour').routing,
      targetIp: '10.0.0.9',
      // Made by hand, as someone else could: the name this installation would use, others' tags.
      plantForeignTargetGroup: async (tenantId) => {
        await model.elbClient.send(
          new CreateTargetGroupCommand({
            Name: targetGroupName('contract', tenantId),
            VpcId: VPC_ID,
            Tags: [
              { Key: TENANT_TAG, Value: tenantId },
              { Key: INSTALLATION_TAG, Value: 'neighbour' },
            ],
          }),
        );
      },
      close: async () => model.restore(),
    };
  },
  ['otherInstallation', 'resourcesByHand'],
);

/** A prefix that makes the gateway give a tenant the target group name of the tenant it names. */
const SQUATTER = 'squatter-of-';

describeRoutingContract(
  'GatewayRouting (embedded mode)',
  async () => {
    const routing = new GatewayRouting({
      healthCheckIntervalMs: 50,
      targetGroupName: (installation, tenantId) => targetGroupName(installation, tenantId.replace(SQUATTER, '')),
    });
    return {
      routing,
      // Nothing listens on port 9 (discard): health checks fail, as for a task not yet serving.
      targetIp: '127.0.0.1:9',
      plantForeignTargetGroup: async (tenantId) => {
        await routing.ensureTargetGroup(`${SQUATTER}${tenantId}`);
      },
      close: async () => routing.close(),
    };
  },
  ['resourcesByHand'],
);

describeRoutingContract('FakeCloud (use-case tests)', async () => ({
  routing: new FakeCloud(),
  targetIp: '10.0.0.9',
  close: async () => {},
}));
