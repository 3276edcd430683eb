import type { CapacityProvider, LaunchedAs } from '../domain/tenant.js';
import type { ObservedTask } from '../domain/task.js';

// The value types are the domain's; re-exported so that adapters find it with the port.
export type { ObservedTask, TaskLastStatus } from '../domain/task.js';

export interface RunTaskRequest {
  tenantId: string;
  /** `<slug>.<root domain>`, passed to the task as TENANT_HOST. */
  host: string;
  /** Same token, same task: a retried call cannot start a second one. */
  clientToken: string;
  capacityProvider: CapacityProvider;
  /** The tenant's plan: on AWS it picks the task definition when the plan has an image of its own. */
  plan: string;
  /** Task size from the plan: CPU units (1024 = 1 vCPU) and memory in MiB. Not enforced locally. */
  cpu: number;
  memory: number;
  /**
   * The plan's environment with the tenant's own over it. The platform's own variables
   * (TENANT_ID, TENANT_HOST, DATA_DIR…) are set by the adapter after these, so they always win.
   */
  environment: Record<string, string>;
  /** Carried by the task and reported back in `ObservedTask.launchedAs`. */
  launchedAs: LaunchedAs;
  /** From `Storage.ensure`: the tenant's persistent data, mounted at the task's data path. */
  volume?: string;
}

export type RunTaskResult =
  | { started: true; task: ObservedTask }
  /** The platform refused without starting anything, e.g. no Spot capacity (RunTask `failures[]`). */
  | { started: false; capacityUnavailable: boolean; reason: string };

export interface Compute {
  runTask(request: RunTaskRequest): Promise<RunTaskResult>;
  /**
   * The tenant's tasks meant to run (desired RUNNING, not yet STOPPED) that carry this tenant's
   * and installation's tags, plus any of `knownArns` whatever their status: a task told to stop
   * is seen through its recorded ARN, and the reconciler can read why a task it knew about stopped.
   */
  tenantTasks(tenantId: string, knownArns: string[]): Promise<ObservedTask[]>;
  stopTask(arn: string, reason: string): Promise<void>;
}
