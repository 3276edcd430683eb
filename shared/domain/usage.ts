/**
 * What a tenant has used: accumulated from its transitions, for billing integrators and the
 * cost to date.
 */
export interface Usage {
  /** Seconds its tasks ran, by meter: capacity and size, e.g. `spot:256:512`. */
  runningSeconds: Record<string, number>;
  wakes: number;
  passivations: number;
}
