import { createCleanTenantDataHandler, TENANTS_MOUNT_PATH } from '../shared/events/clean-tenant-data-handler.js';

/** Invoked by the reconciler when a tenant is deleted: `{"tenantId": "<id>"}` → its files are gone. */
export const handler = createCleanTenantDataHandler(TENANTS_MOUNT_PATH);
