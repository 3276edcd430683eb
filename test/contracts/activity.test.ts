import { LocalActivity, type Exchange } from '../../shared/adapters/local/local-activity.js';
import { awsAdaptersOver, manualAwsModel } from '../support/aws-adapters.js';
import { LOAD_BALANCER_FULL_NAMES } from '../support/aws-model.js';
import { FakeActivity } from '../support/fake-activity.js';
import { describeActivityContract } from './activity.contract.js';

const FIFTEEN_MINUTES = 15 * 60_000;

describeActivityContract('CloudWatchActivity over the AWS model', async () => {
  const { model, now, advance } = manualAwsModel();
  const { activity, routing } = awsAdaptersOver(model, 'contract', 3);
  // The sweep asks about a window that has ended: metrics for the minute under way are not in yet.
  advance(FIFTEEN_MINUTES);
  return {
    activity,
    targetGroupOf: (tenantId) => routing.ensureTargetGroup(tenantId),
    serve: async (_tenantId, targetGroupArn, requests, shard = 0) => {
      model.recordRequests(targetGroupArn, requests, LOAD_BALANCER_FULL_NAMES[shard]);
      // The ALB publishes a minute's sum once the minute is over.
      advance(60_000);
    },
    window: () => ({ start: new Date(now().getTime() - FIFTEEN_MINUTES), end: now() }),
    close: async () => model.restore(),
  };
});

describeActivityContract('LocalActivity (embedded mode)', async () => {
  const activity = new LocalActivity();
  // Answers already over: the requests count, no connection stays open.
  const closed: Exchange = { destroyed: true, once: () => undefined };
  return {
    activity,
    targetGroupOf: async (tenantId) => `local:targetgroup/dm-local-${tenantId}`,
    serve: async (tenantId, _targetGroupArn, requests) => {
      for (let i = 0; i < requests; i++) activity.record(tenantId, closed);
    },
    window: () => ({ start: new Date(Date.now() - FIFTEEN_MINUTES), end: new Date() }),
    close: async () => {},
  };
});

describeActivityContract('FakeActivity (use-case tests)', async () => {
  const activity = new FakeActivity();
  return {
    activity,
    targetGroupOf: async (tenantId) => `arn:aws:elasticloadbalancing:targetgroup/dm-${tenantId}`,
    serve: async (tenantId, _targetGroupArn, requests) => {
      const level = activity.levels.get(tenantId) ?? { requests: 0, connections: 0 };
      activity.levels.set(tenantId, { ...level, requests: level.requests + requests });
    },
    window: () => ({ start: new Date(Date.now() - FIFTEEN_MINUTES), end: new Date() }),
    close: async () => {},
  };
});
