/**
 * A tenant's persistent data: one directory per tenant that its task mounts, kept while the
 * tenant sleeps, is interrupted or restarts, and removed only when the tenant is deleted.
 * On AWS it is an EFS access point rooted at `/tenants/<tenant>` and a task definition of the
 * tenant's own that mounts it (RunTask cannot override volumes); locally a directory.
 */
export interface Storage {
  /**
   * Creates the tenant's directory and what its task needs to mount it, or finds them: safe to
   * repeat, and brought up to date with the task definition of the tenant's `plan` (the
   * installation's, unless the plan has an image of its own). Returns the reference
   * `Compute.runTask` takes as `volume`. Something of that name that is another tenant's or
   * installation's is refused (ForeignResourceError).
   */
  ensure(tenantId: string, options?: { plan?: string }): Promise<string>;
  /**
   * Removes the tenant's files and everything made to mount them. Safe to repeat, and to call
   * for a tenant that never had any. Called only once no task of the tenant runs.
   */
  remove(tenantId: string): Promise<void>;
  /**
   * How many bytes the tenant's files take now, for its metered usage: asked once each time the
   * tenant goes to sleep. Storages that cannot tell leave storage unmetered.
   */
  dataBytes?(tenantId: string): Promise<DataSize>;
}

/** A tenant's data size as measured. */
export interface DataSize {
  bytes: number;
  /** The measurement stopped at its bound (many files, or slow): the data takes at least `bytes`. */
  lowerBound?: true;
}

/** The storage this installation holds, whoever's record it belongs to, for drift repair. */
export interface StorageInventory extends Pick<Storage, 'remove'> {
  /** Tenants that have storage (an access point, a task definition or a directory) in this installation. */
  managedTenants(): Promise<string[]>;
}

/** A link that works until `expiresAt` (ISO time), for one download or upload. */
export interface TimedLink {
  url: string;
  expiresAt: string;
}

/**
 * A tenant's data as a `.tar.gz`, out and back in: on AWS through presigned S3 URLs and the
 * function that reaches the file system, locally through the embedded API.
 */
export interface DataArchives {
  /** Packs the tenant's data as it is now and returns a link to download it, valid for an hour. */
  exportData(tenantId: string): Promise<TimedLink>;
  /** A link to upload an archive to (HTTP PUT, the `.tar.gz` as the body), valid for an hour. */
  uploadLink(tenantId: string): Promise<TimedLink & { uploadId: string }>;
  /**
   * Replaces the tenant's data with the archive uploaded under `uploadId`, all or nothing
   * (ArchiveRejectedError says why not; NotFoundError when nothing was uploaded). Called only
   * while no task of the tenant runs.
   */
  restoreData(tenantId: string, uploadId: string): Promise<{ files: number; bytes: number }>;
}
