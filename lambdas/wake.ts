import { Logger } from '@aws-lambda-powertools/logger';
import { loadWakeConfig } from '../shared/config.js';
import { wakeDeps } from '../shared/adapters/aws/composition/wake.js';
import { createWakeHandler } from '../shared/http/wake-handler.js';

/** ALB catch-all rule for `*.<domain>` (Lambda target): hosts without a rule, i.e. sleeping, starting or unknown tenants. */
const config = loadWakeConfig();
export const handler = createWakeHandler(wakeDeps(config), new Logger({ serviceName: 'dormouse-wake' }), {
  https: config.baseUrl.protocol === 'https:',
  pages: { ...(config.brand ? { brand: config.brand } : {}), ...(config.manageUrl ? { manageUrl: config.manageUrl } : {}) },
});
