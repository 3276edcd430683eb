import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Activity } from '../../shared/ports/activity.js';

/** One implementation of the Activity port, with a way to send a tenant traffic. */
export interface ActivitySubject {
  activity: Activity;
  /** The tenant's target group, as the reconciler records it. */
  targetGroupOf(tenantId: string): Promise<string>;
  /** The load balancer of `shard` (absent: 0, of shards 0 to 2) forwards `requests` requests to the tenant now. */
  serve(tenantId: string, targetGroupArn: string, requests: number, shard?: number): Promise<void>;
  /** The sweep's window, ending now. */
  window(): { start: Date; end: Date };
  close(): Promise<void>;
}

/**
 * What the sweep relies on from Activity, written once and run against every implementation:
 * CloudWatch over the AWS model, the local gateway's counters, and the test fake. Each case reads
 * once: the gateway counts requests since its previous read.
 */
export function describeActivityContract(name: string, makeSubject: () => Promise<ActivitySubject>): void {
  describe(`Activity contract: ${name}`, () => {
    let subject: ActivitySubject;

    beforeEach(async () => {
      subject = await makeSubject();
    });
    afterEach(async () => {
      await subject.close();
    });

    it('measures a tenant without traffic as idle', async () => {
      const targetGroupArn = await subject.targetGroupOf('acme');
      const levels = await subject.activity.activity([{ tenantId: 'acme', targetGroupArn }], subject.window());
      expect(levels.get('acme')).toEqual({ requests: 0, connections: 0 });
    });

    it('counts the requests each tenant received in the window, each tenant on its own', async () => {
      const acme = await subject.targetGroupOf('acme');
      const globex = await subject.targetGroupOf('globex');
      await subject.serve('acme', acme, 3);
      const levels = await subject.activity.activity(
        [
          { tenantId: 'acme', targetGroupArn: acme },
          { tenantId: 'globex', targetGroupArn: globex },
        ],
        subject.window(),
      );
      expect(levels.get('acme')?.requests).toBe(3);
      expect(levels.get('acme')?.connections).toBeGreaterThanOrEqual(0);
      expect(levels.get('globex')).toEqual({ requests: 0, connections: 0 });
    });

    it("counts a tenant's requests through the load balancer of its own shard", async () => {
      const acme = await subject.targetGroupOf('acme');
      const globex = await subject.targetGroupOf('globex');
      await subject.serve('acme', acme, 4, 2);
      await subject.serve('globex', globex, 1, 1);
      const levels = await subject.activity.activity(
        [
          { tenantId: 'acme', targetGroupArn: acme, shard: 2 },
          { tenantId: 'globex', targetGroupArn: globex, shard: 1 },
        ],
        subject.window(),
      );
      expect(levels.get('acme')?.requests).toBe(4);
      expect(levels.get('globex')?.requests).toBe(1);
    });

    it('answers an empty question with an empty map', async () => {
      expect(await subject.activity.activity([], subject.window())).toEqual(new Map());
    });
  });
}
