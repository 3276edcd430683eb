import { loadApiConfig } from '../shared/config.js';
import { createApiHandler } from '../shared/http/api.js';
import { apiDeps } from '../shared/adapters/aws/composition/api.js';

/** API Gateway HTTP API (payload format 2.0) → the tenant API. */
export const handler = createApiHandler(apiDeps(loadApiConfig()));
