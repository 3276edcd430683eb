import { afterEach, describe, expect, it, vi } from 'vitest';
import { EcsCompute } from '../../shared/adapters/aws/ecs-compute.js';
import { BURST_TIMINGS, movingOnItsOwn } from '../../bench/lib/burst-world.js';
import { DEPLOYED_CONFIG, INSTALLATION } from '../../bench/lib/reconciler.js';
import { AwsModel } from '../support/aws-model.js';
import { TRIAL_LAUNCH } from '../support/launch.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the burst benches’ AWS world', () => {
  it('sends a started task’s state changes as they happen, though nothing calls the model meanwhile', async () => {
    // Prepare
    vi.useFakeTimers();
    const aws = new AwsModel({ now: () => Date.now(), timings: BURST_TIMINGS });
    const sent: Array<{ status: string; lateMs: number }> = [];
    aws.onTaskChange = ({ detail, at }) => sent.push({ status: detail.lastStatus!, lateMs: Date.now() - at });
    const compute = new EcsCompute({ ...DEPLOYED_CONFIG.ecs, client: aws.ecsClient, installation: INSTALLATION });
    await compute.runTask({
      tenantId: 'acme',
      host: 'acme.trials.example.com',
      clientToken: 'acme-g1-r1',
      capacityProvider: 'FARGATE_SPOT',
      ...TRIAL_LAUNCH,
    });
    const stop = movingOnItsOwn(aws);

    // Act: the task's start takes its time; no one calls ECS meanwhile.
    await vi.advanceTimersByTimeAsync(BURST_TIMINGS.provisioningMs + BURST_TIMINGS.pendingMs + 50);
    stop();

    // Assess
    expect(sent.map(({ status }) => status)).toEqual(['PROVISIONING', 'PENDING', 'RUNNING']);
    expect(Math.max(...sent.map(({ lateMs }) => lateMs))).toBeLessThanOrEqual(10);
    aws.restore();
  });
});
