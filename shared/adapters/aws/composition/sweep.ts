import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { ReconcilerConfig } from '../../../config.js';
import { reconcileSettings } from '../../../config/reconcile-settings.js';
import { reconcile, type ReconcileDeps } from '../../../app/reconcile.js';
import type { SweepDeps } from '../../../app/sweep.js';
import { systemClock } from '../../../ports/clock.js';
import { CloudWatchActivity } from '../cloudwatch-activity.js';
import type { AwsClients } from './clients.js';
import { reconcilerAdapters } from './reconcile.js';

/**
 * The sweep function: DynamoDB, CloudWatch, and the reconciler it calls for the tenants it finds
 * due, wired as the reconcile function's over the same adapter instances, which the sweep also
 * uses for the store's listings and markers and for drift repair (with a data path, the EFS storage too).
 */
export function sweepDeps(
  config: ReconcilerConfig,
  sweepConfig: { loadBalancerFullName: string | readonly string[]; networkActivityBytesPerSecond?: number },
  clients: AwsClients = {},
  logger?: ReconcileDeps['logger'],
): SweepDeps {
  const { store, compute, routing, storage, dns, wakeTimes } = reconcilerAdapters(config, clients);
  const reconcileDeps: ReconcileDeps = {
    store,
    compute,
    routing,
    wakeTimes,
    ...(storage ? { storage } : {}),
    ...(dns ? { dns } : {}),
    clock: systemClock,
    settings: reconcileSettings(config),
    ...(logger ? { logger } : {}),
  };
  return {
    store,
    activity: new CloudWatchActivity({
      client: clients.cloudWatchClient ?? new CloudWatchClient({}),
      loadBalancerFullName: sweepConfig.loadBalancerFullName,
      ...(sweepConfig.networkActivityBytesPerSecond
        ? {
            taskNetwork: {
              clusterName: clusterName(config.ecs.cluster),
              busyBytesPerSecond: sweepConfig.networkActivityBytesPerSecond,
            },
          }
        : {}),
    }),
    clock: reconcileDeps.clock,
    reconcile: (tenantId) => reconcile(reconcileDeps, tenantId),
    drift: { compute, routing, ...(storage ? { storage } : {}) },
  };
}

/** `arn:aws:ecs:<region>:<account>:cluster/<name>` → `<name>`; a bare name stays as it is. */
function clusterName(cluster: string): string {
  return cluster.slice(cluster.lastIndexOf('/') + 1);
}
