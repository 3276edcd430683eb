import type { Socket } from 'node:net';
import type { Activity, ActivityLevel, ActivityTarget } from '../../ports/activity.js';

/**
 * The gateway's per-tenant counters, read through the Activity port: the local stand-in for
 * the ALB's RequestCount and ActiveConnectionCount. Requests count since the previous read of
 * that tenant (each read resets them), connections are the client sockets open right now that
 * carried at least one of the tenant's requests or its WebSocket.
 */
export class LocalActivity implements Activity {
  private readonly requests = new Map<string, number>();
  private readonly sockets = new Map<string, Set<Socket>>();

  /** One proxied request (or upgrade) for `tenantId` over `socket`. */
  record(tenantId: string, socket: Socket): void {
    this.requests.set(tenantId, (this.requests.get(tenantId) ?? 0) + 1);
    if (socket.destroyed) return;
    let open = this.sockets.get(tenantId);
    if (!open) this.sockets.set(tenantId, (open = new Set()));
    if (open.has(socket)) return;
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0 && this.sockets.get(tenantId) === open) this.sockets.delete(tenantId);
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
      result.set(tenantId, { requests: this.requests.get(tenantId) ?? 0, connections: this.sockets.get(tenantId)?.size ?? 0 });
      this.requests.delete(tenantId);
    }
    return result;
  }
}
