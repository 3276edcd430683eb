import { S3Client } from '@aws-sdk/client-s3';
import { loadTenantDataConfig } from '../shared/config.js';
import { ARCHIVE_LIMITS } from '../shared/domain/data-archives.js';
import { createTenantDataHandler, TENANTS_MOUNT_PATH } from '../shared/adapters/aws/tenant-data-function.js';

const { archiveBucket } = loadTenantDataConfig();

/**
 * The one function that reaches every tenant's files: invoked by the reconciler when a tenant is
 * deleted (`{"tenantId": "<id>"}` → its files are gone), and by the API to export a tenant's data
 * to the archive bucket or restore it from an upload there.
 */
export const handler = createTenantDataHandler({
  root: TENANTS_MOUNT_PATH,
  ...(archiveBucket
    ? {
        archives: {
          s3: new S3Client({}),
          bucket: archiveBucket,
          limits: { maxBytes: ARCHIVE_LIMITS.maxUnpackedBytes, maxEntries: ARCHIVE_LIMITS.maxEntries },
        },
      }
    : {}),
});
