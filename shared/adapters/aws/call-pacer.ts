import { setTimeout as sleep } from 'node:timers/promises';

/** A rate as AWS publishes its API throttles: a bucket of `burst` calls refilled at `perSecond`. */
export interface CallRate {
  burst: number;
  perSecond: number;
  /**
   * The longest a call waits for its turn; one whose turn is further off is not sent and fails
   * as throttled (the caller backs off), so a wait never outlasts the caller's invocation.
   */
  maxWaitMs: number;
}

/** A call the pacer did not send: its turn was further off than `maxWaitMs`. Named as AWS names throttling, so callers treat it alike. */
export class PacedThrottlingException extends Error {
  constructor(
    readonly what: string,
    readonly turnInMs: number,
  ) {
    super(`${what}: this process's share of the rate is taken for the next ${Math.ceil(turnInMs)} ms; not sent`);
    this.name = 'PacedThrottlingException';
  }
}

/**
 * Spaces calls out to a published rate inside one process, so they wait their turn here instead
 * of being sent, throttled and retried: a throttled attempt costs the whole account's budget for
 * that API, and retries of many callers at once keep the budget spent. Turns are handed out in
 * the order calls ask for them (a virtual schedule: each call takes the next free slot).
 */
export class CallPacer {
  /** When the bucket would next be full again were no more calls made (the schedule's end). */
  private scheduleEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly rate: CallRate,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves when the call may be sent; throws PacedThrottlingException when its turn is too far off. */
  async turn(what: string): Promise<void> {
    const interval = 1000 / this.rate.perSecond;
    const now = this.now();
    const end = Math.max(this.scheduleEnd, now);
    // The bucket holds `burst` calls: a call may go once the schedule ends less than a full
    // bucket's worth of intervals from now.
    const waitMs = end - now - (this.rate.burst - 1) * interval;
    if (waitMs > this.rate.maxWaitMs) throw new PacedThrottlingException(what, waitMs);
    this.scheduleEnd = end + interval;
    if (waitMs <= 0) return;
    // One millisecond more: the bucket it mirrors refills continuously.
    const longest = waitMs + 1;
    const sendAt = now + longest;
    // Checked against the clock, not left to one timer: timers keep a clock of their own, each
    // rounded to the millisecond, so one can fire a millisecond before `now` says it is due. Never
    // longer than first said, should the clock be set back meanwhile.
    for (let left = longest; left > 0 && left <= longest; left = sendAt - this.now()) await sleep(Math.ceil(left));
  }
}
