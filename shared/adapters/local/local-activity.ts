import type { Activity, ActivityLevel, ActivityTarget } from '../../ports/activity.js';

/** What ends an exchange: an answer or a tunnel, which emits `close` once it is over. */
export interface Exchange {
  /** Already over: nothing stays open. */
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * The gateway's per-tenant counters, read through the Activity port: the local stand-in for
 * the ALB's RequestCount and ActiveConnectionCount. Requests count since the previous read of
 * that tenant (each read resets them). Connections are the exchanges under way right now: a
 * request still waiting for the end of its answer (a slow answer, a long poll, server-sent
 * events) or an upgraded connection (a WebSocket). A visitor's idle kept-alive connection is
 * not one of them: a browser keeps those open after a page loads, and a tenant nobody uses
 * must still go to sleep.
 */
export class LocalActivity implements Activity {
  private readonly requests = new Map<string, number>();
  private readonly open = new Map<string, number>();

  /**
   * One proxied request (or upgrade) for `tenantId`, open until `exchange` closes: the
   * request's response, or the upgraded socket.
   */
  record(tenantId: string, exchange: Exchange): void {
    this.requests.set(tenantId, (this.requests.get(tenantId) ?? 0) + 1);
    if (exchange.destroyed) return;
    this.open.set(tenantId, (this.open.get(tenantId) ?? 0) + 1);
    let closed = false;
    exchange.once('close', () => {
      // Counted down once, whichever way the exchange ended.
      if (closed) return;
      closed = true;
      const left = (this.open.get(tenantId) ?? 1) - 1;
      if (left > 0) this.open.set(tenantId, left);
      else this.open.delete(tenantId);
    });
  }

  /**
   * Every tenant asked about is measured, so each gets an entry (zeros when it had no traffic).
   * The window is ignored: the gateway counts since the last read, and the sweep reads once
   * per window. The target group is ignored too: the tenant id names the traffic here.
   */
  async activity(targets: ActivityTarget[], _window?: { start: Date; end: Date }): Promise<Map<string, ActivityLevel>> {
    const result = new Map<string, ActivityLevel>();
    for (const { tenantId } of targets) {
      if (result.has(tenantId)) continue;
      result.set(tenantId, { requests: this.requests.get(tenantId) ?? 0, connections: this.open.get(tenantId) ?? 0 });
      this.requests.delete(tenantId);
    }
    return result;
  }
}
