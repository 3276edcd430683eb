import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { watchTenant, type ReconcileResult, type Watch } from '../app/controller.js';
import { reconcile, type ReconcileDeps } from '../app/reconcile.js';

/** Any tenant event on the bus names the tenant; the reconciler needs nothing else from it. */
export const TenantEventSchema = EventBridgeSchema.extend({
  detail: z.object({ tenantId: z.string().min(1) }).passthrough(),
});
export type TenantEvent = z.infer<typeof TenantEventSchema>;

/** Short waits (a task starting, a health check) are cheaper inside this invocation than a new one. */
const MAX_INLINE_WAIT_MS = 20_000;
/** Left for the last reconcile and its write when deciding whether another round fits. */
const SAFETY_MARGIN_MS = 30_000;

/**
 * The invocation watches the tenant while its waits fit in the time it has left, and lets go
 * (for another invocation or the sweep to take up) when they no longer do.
 */
export function invocationWatch(requestId: string, remainingMs: number): Watch {
  return { owner: requestId, maxWaitMs: Math.min(MAX_INLINE_WAIT_MS, remainingMs - SAFETY_MARGIN_MS) };
}

export function createReconcileHandler(deps: ReconcileDeps, logger: Logger) {
  return middy<TenantEvent, ReconcileResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(parser({ schema: TenantEventSchema }))
    .handler(async (event, context: Context) => {
      const { tenantId } = event.detail;
      logger.appendKeys({ tenantId });
      // Errors AWS gives are the controller's to back off from or record; only a record that
      // cannot be read or written fails the invocation (retried, then the dead-letter queue),
      // and the sweep takes the tenant up again either way.
      const result = await watchTenant(
        (watch) => reconcile({ ...deps, logger }, tenantId, watch),
        () => invocationWatch(context.awsRequestId, context.getRemainingTimeInMillis()),
      );
      // A longer wait is left to the sweep, which picks the tenant up again when retryAt comes.
      logger.info('Reconciled', { phase: result.phase, requeueAfterMs: result.requeueAfterMs });
      return result;
    });
}
