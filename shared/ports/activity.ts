/** Traffic a tenant received over a window: what tells the sweep it is not idle. */
export interface ActivityLevel {
  requests: number;
  /**
   * Connections busy during the window, where the source can tell: a request whose answer is still
   * under way (a long download, a long poll, server-sent events) or an upgraded connection (a
   * WebSocket). An idle kept-alive connection is not busy: it must not keep a tenant awake.
   */
  connections: number;
  /**
   * Minutes of the window in which the tenant's task received more than its health checks bring
   * in: traffic that is not requests, such as a WebSocket's messages, where the source measures it.
   */
  busyMinutes?: number;
}

export interface ActivityTarget {
  tenantId: string;
  /** The tenant's target group: load balancer metrics are kept per target group. */
  targetGroupArn: string;
  /** The tenant's routing shard (absent: 0): its load balancer's metrics hold the target group's. */
  shard?: number;
  /** The tenant's task, where it has one: task metrics are kept per task. */
  taskArn?: string;
}

export interface Activity {
  /**
   * Activity of each target over the window, keyed by tenant id. A tenant missing from the map
   * could not be measured; the caller must not take that for idleness.
   */
  activity(targets: ActivityTarget[], window: { start: Date; end: Date }): Promise<Map<string, ActivityLevel>>;
}

/** Whether a measured level shows any traffic at all. */
export function hadTraffic(level: ActivityLevel): boolean {
  return level.requests > 0 || level.connections > 0 || (level.busyMinutes ?? 0) > 0;
}
