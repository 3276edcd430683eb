/**
 * A tenant's persistent data: one directory per tenant that its task mounts, kept while the
 * tenant sleeps, is interrupted or restarts, and removed only when the tenant is deleted.
 * On AWS it is an EFS access point rooted at `/tenants/<tenant>` and a task definition of the
 * tenant's own that mounts it (RunTask cannot override volumes); locally a directory.
 */
export interface Storage {
  /**
   * Creates the tenant's directory and what its task needs to mount it, or finds them: safe to
   * repeat, and brought up to date with the installation's current task definition. Returns the
   * reference `Compute.runTask` takes as `volume`. Something of that name that is another
   * tenant's or installation's is refused (ForeignResourceError).
   */
  ensure(tenantId: string): Promise<string>;
  /**
   * Removes the tenant's files and everything made to mount them. Safe to repeat, and to call
   * for a tenant that never had any. Called only once no task of the tenant runs.
   */
  remove(tenantId: string): Promise<void>;
}

/** The storage this installation holds, whoever's record it belongs to, for drift repair. */
export interface StorageInventory extends Pick<Storage, 'remove'> {
  /** Tenants that have storage (an access point, a task definition or a directory) in this installation. */
  managedTenants(): Promise<string[]>;
}
