import type { Activity, ActivityLevel, ActivityTarget } from '../../shared/ports/activity.js';

const IDLE: ActivityLevel = { requests: 0, connections: 0 };

/**
 * Activity has no local AWS equivalent (it is the ALB's CloudWatch metrics), so use-case tests
 * set it by hand; the CloudWatch adapter is tested against the SDK with aws-sdk-client-mock.
 * Every target asked about is answered, idle unless set otherwise.
 */
export class FakeActivity implements Activity {
  readonly levels = new Map<string, ActivityLevel>();
  readonly calls: Array<{ targets: ActivityTarget[]; window: { start: Date; end: Date } }> = [];
  failing = false;

  async activity(targets: ActivityTarget[], window: { start: Date; end: Date }): Promise<Map<string, ActivityLevel>> {
    this.calls.push({ targets, window });
    if (this.failing) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    return new Map(targets.map(({ tenantId }) => [tenantId, this.levels.get(tenantId) ?? IDLE]));
  }
}
