import type { ReconcileResult } from '../../app/controller.js';

export interface ReconcileLoopOptions {
  reconcile: (tenantId: string) => Promise<ReconcileResult>;
  onError?: (tenantId: string, error: unknown) => void;
  /** Wait before trying again after an error. */
  retryMs?: number;
}

/**
 * What the reconcile Lambda and the event rule do on AWS: one reconcile at a time per tenant,
 * a trigger during a run causes one more run after it, and `requeueAfterMs` becomes a timer.
 */
export class ReconcileLoop {
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: ReconcileLoopOptions) {}

  trigger(tenantId: string): void {
    if (this.stopped) return;
    if (this.running.has(tenantId)) {
      this.dirty.add(tenantId);
      return;
    }
    const run = this.run(tenantId).finally(() => this.running.delete(tenantId));
    this.running.set(tenantId, run);
  }

  private async run(tenantId: string): Promise<void> {
    do {
      this.dirty.delete(tenantId);
      this.clearTimer(tenantId);
      let result: ReconcileResult;
      try {
        result = await this.options.reconcile(tenantId);
      } catch (error) {
        this.options.onError?.(tenantId, error);
        result = { requeueAfterMs: this.options.retryMs ?? 5_000 };
      }
      if (result.requeueAfterMs !== undefined && !this.dirty.has(tenantId)) this.schedule(tenantId, result.requeueAfterMs);
    } while (this.dirty.has(tenantId) && !this.stopped);
  }

  private schedule(tenantId: string, afterMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(tenantId);
      this.trigger(tenantId);
    }, afterMs);
    timer.unref();
    this.timers.set(tenantId, timer);
  }

  private clearTimer(tenantId: string): void {
    const timer = this.timers.get(tenantId);
    if (timer) clearTimeout(timer);
    this.timers.delete(tenantId);
  }

  /** Stops scheduling and waits for the runs under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const tenantId of [...this.timers.keys()]) this.clearTimer(tenantId);
    await Promise.allSettled([...this.running.values()]);
  }

  /** Resolves once nothing is running (timers may still be set). For tests. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }
}
