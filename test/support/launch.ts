import { environmentDigest } from '../../shared/domain/plans.js';
import type { RunTaskRequest } from '../../shared/ports/compute.js';

/** What a task of the built-in trial plan is started as, for tests that call `Compute.runTask` themselves. */
export const TRIAL_LAUNCH: Pick<RunTaskRequest, 'plan' | 'cpu' | 'memory' | 'environment' | 'launchedAs'> = {
  plan: 'trial',
  cpu: 256,
  memory: 512,
  environment: {},
  launchedAs: { plan: 'trial', revision: '0123456789ab', environment: environmentDigest(undefined) },
};
