/** One wake by a request: when the request woke the tenant, and how long until it served. */
export interface WakeTime {
  /** ISO time the request woke the tenant; it names the wake, so the same one is kept once. */
  wokenAt: string;
  ms: number;
}

/** The durations of the most recent wakes by requests, few and bounded: what the waking page's estimate comes from. */
export interface WakeTimes {
  /** The kept wakes, oldest first. */
  recent(): Promise<WakeTime[]>;
  /** Adds a wake unless it is kept already, dropping the oldest past the bound. */
  record(wake: WakeTime): Promise<void>;
}
