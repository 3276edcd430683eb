import type { CapacityProvider, LaunchedAs } from './tenant.js';

/** ECS task lifecycle statuses, in the order a task moves through them. */
export type TaskLastStatus =
  'PROVISIONING' | 'PENDING' | 'ACTIVATING' | 'RUNNING' | 'DEACTIVATING' | 'STOPPING' | 'DEPROVISIONING' | 'STOPPED';

/** A tenant's task as the compute platform reports it. */
export interface ObservedTask {
  arn: string;
  tenantId: string;
  lastStatus: TaskLastStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  capacityProvider: CapacityProvider;
  /** Private IP of the task's network interface, once it has one. */
  ip?: string;
  /** ECS stop codes: `TerminationNotice` and `SpotInterruption` mark a Spot interruption. */
  stopCode?: string;
  stoppedReason?: string;
  /** Why a container exited, e.g. `CannotPullContainerError: …`, when ECS says. */
  containerReason?: string;
  exitCode?: number;
  startedAt?: string;
  stoppedAt?: string;
  /** What the task was started as, when it says (tasks started before plans existed do not). */
  launchedAs?: LaunchedAs;
  /** The task's size as the platform reports it (CPU units, MiB): what its running time is metered at. */
  size?: TaskSize;
}

export interface TaskSize {
  cpu: number;
  memory: number;
}
