import { Logger } from '@aws-lambda-powertools/logger';
import { loadReconcilerConfig } from '../shared/config.js';
import { reconcilerDeps } from '../shared/adapters/aws/composition/reconcile.js';
import { createReconcileHandler } from '../shared/events/reconcile-handler.js';

/** EventBridge rule "tenant changed" on the dormouse bus → reconcile that tenant. */
export const handler = createReconcileHandler(reconcilerDeps(loadReconcilerConfig()), new Logger({ serviceName: 'dormouse-reconcile' }));
