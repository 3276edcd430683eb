import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { TENANTS_STUCK_METRIC } from './metrics.js';
import { SWEEP_DEFAULTS, sweep, type SweepDeps, type SweepReport, type SweepSettings } from '../app/sweep.js';

/**
 * Room kept between the budget and the function's timeout: a run finishes the page it is on
 * after the budget runs out, and writes its marker.
 */
const SAFETY_MARGIN_MS = 20_000;

export interface SweepHandlerOptions {
  deps: SweepDeps;
  settings?: Partial<SweepSettings>;
  logger: Logger;
  metrics: Metrics;
}

/**
 * EventBridge Scheduler invokes this with whatever payload the schedule carries; the sweep
 * needs none of it. The report goes to the log and, as counts, to CloudWatch metrics (EMF).
 */
export function createSweepHandler({ deps, settings = {}, logger, metrics }: SweepHandlerOptions) {
  return middy<unknown, SweepReport>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(async (_event, context: Context) => {
      // Never plan past what the invocation has left, whatever the configured budget.
      const budgetMs = Math.max(
        0,
        Math.min(settings.budgetMs ?? SWEEP_DEFAULTS.budgetMs, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS),
      );
      const report = await sweep({ ...deps, logger }, { ...settings, budgetMs });
      const { repaired } = report;
      metrics.addMetric('TenantsPassivated', MetricUnit.Count, report.passivated);
      metrics.addMetric('TenantsWarmed', MetricUnit.Count, report.warmed);
      metrics.addMetric('TrialsExpired', MetricUnit.Count, report.expired);
      metrics.addMetric(
        'DriftRepaired',
        MetricUnit.Count,
        repaired.tasks + repaired.rules + repaired.targetGroups + repaired.storage + repaired.tenants,
      );
      metrics.addMetric('TenantsReconciled', MetricUnit.Count, report.reconciled);
      // Alarmed on in CDK: a tenant that never gets where it is going, whatever the reason.
      metrics.addMetric(TENANTS_STUCK_METRIC, MetricUnit.Count, report.stuck.length);
      for (const stuck of report.stuck) logger.warn('Tenant stuck', { ...stuck });
      logger.info('Sweep finished', { report });
      return report;
    });
}
