import { describe, expect, it } from 'vitest';
import { ConfigError, loadSweepConfig } from '../../shared/config.js';

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2';
const valid = { DORMOUSE_LISTENER_ARN: LISTENER };

describe('loadSweepConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadSweepConfig(valid)).toEqual({
      loadBalancerFullNames: ['app/dormouse/50dc6c495c0c9188'],
      idleMs: 15 * 60_000,
      minRunMs: 5 * 60_000,
      expiringNoticeMs: 24 * 3_600_000,
      pageSize: 100,
      budgetMs: 40_000,
      stuckMs: 15 * 60_000,
      plans: expect.objectContaining({ plans: expect.any(Array) }),
      warmLeadMs: 5 * 60_000,
      networkActivityBytesPerSecond: 0,
    });
  });

  it('reads every variable in its unit', () => {
    const config = loadSweepConfig({
      ...valid,
      DORMOUSE_IDLE_MINUTES: '30',
      DORMOUSE_MIN_RUN_MINUTES: '2',
      DORMOUSE_EXPIRING_NOTICE_HOURS: '48',
      DORMOUSE_SWEEP_PAGE_SIZE: '25',
      DORMOUSE_SWEEP_BUDGET_SECONDS: '20',
      DORMOUSE_STUCK_MINUTES: '30',
      DORMOUSE_WARM_LEAD_MINUTES: '0',
      DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND: '512',
    });

    expect(config).toMatchObject({
      idleMs: 1_800_000,
      minRunMs: 120_000,
      expiringNoticeMs: 172_800_000,
      pageSize: 25,
      budgetMs: 20_000,
      stuckMs: 1_800_000,
      warmLeadMs: 0,
      networkActivityBytesPerSecond: 512,
    });
  });

  it('names every missing or malformed variable', () => {
    const load = () =>
      loadSweepConfig({
        DORMOUSE_IDLE_MINUTES: '0',
        DORMOUSE_SWEEP_PAGE_SIZE: 'many',
        DORMOUSE_SWEEP_BUDGET_SECONDS: '900',
      });

    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/DORMOUSE_LISTENER_ARN/);
    expect(load).toThrow(/DORMOUSE_IDLE_MINUTES/);
    expect(load).toThrow(/DORMOUSE_SWEEP_PAGE_SIZE/);
    expect(load).toThrow(/DORMOUSE_SWEEP_BUDGET_SECONDS: must leave room/);
  });

  it.each([
    'arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/dormouse/50dc6c495c0c9188',
    'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/net/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2',
    'app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2',
  ])('refuses %s as the listener it reads the load balancer off', (arn) => {
    expect(() => loadSweepConfig({ DORMOUSE_LISTENER_ARN: arn })).toThrow(
      `DORMOUSE_LISTENER_ARN: entry 1 (${arn}) must be a listener ARN arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<listener-id>`,
    );
  });

  it("reads each shard's load balancer off its listener, and stops when the count differs from DORMOUSE_SHARDS", () => {
    const two = `${LISTENER},app/dormouse-1/60dc6c495c0c9188/a2f7dc8efc522ab2`;

    expect(loadSweepConfig({ DORMOUSE_LISTENER_ARN: two, DORMOUSE_SHARDS: '2' }).loadBalancerFullNames).toEqual([
      'app/dormouse/50dc6c495c0c9188',
      'app/dormouse-1/60dc6c495c0c9188',
    ]);
    expect(() => loadSweepConfig({ DORMOUSE_LISTENER_ARN: two })).toThrow(
      /DORMOUSE_LISTENER_ARN: lists 2 value\(s\) but DORMOUSE_SHARDS is 1/,
    );
  });
});
