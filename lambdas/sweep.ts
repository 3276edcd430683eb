import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { loadReconcilerConfig, loadSweepConfig } from '../shared/config.js';
import { sweepDeps } from '../shared/adapters/aws/composition/sweep.js';
import { METRICS_NAMESPACE, SWEEP_SERVICE } from '../shared/events/metrics.js';
import { createSweepHandler } from '../shared/events/sweep-handler.js';

/** EventBridge Scheduler (every minute) → passivate idle tenants, expire trials, repair drift. */
const logger = new Logger({ serviceName: SWEEP_SERVICE });
const { loadBalancerFullNames, networkActivityBytesPerSecond, ...settings } = loadSweepConfig();

export const handler = createSweepHandler({
  deps: sweepDeps(loadReconcilerConfig(), { loadBalancerFullName: loadBalancerFullNames, networkActivityBytesPerSecond }, {}, logger),
  settings,
  logger,
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SWEEP_SERVICE }),
});
