import { describe, expect, it } from 'vitest';
import { CallPacer } from '../../shared/adapters/aws/call-pacer.js';

describe('CallPacer', () => {
  it('lets a call go no sooner than its turn by the clock it was given, even when its timer fires early by that clock', async () => {
    // The clock the pacer reads, which the test sets behind the timers' by `lag` ms.
    let lag = 0;
    const now = () => Date.now() - lag;
    const pacer = new CallPacer({ burst: 1, perSecond: 10, maxWaitMs: 1_000 }, now);
    const asked = now();
    await pacer.turn('first'); // the whole burst

    const second = pacer.turn('second'); // its turn: 100 ms on, and a millisecond for rounding
    lag = 30;
    await second;

    expect(now() - asked).toBeGreaterThanOrEqual(101);
  });
});
