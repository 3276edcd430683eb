/**
 * Node's permission model, for the demo app: tenant processes all run as one user in embedded
 * mode, so the file system cannot keep one tenant from another's DATA_DIR. Run with these flags,
 * Node itself refuses any file access outside the paths given (ERR_ACCESS_DENIED), as a tenant's
 * task on AWS can mount only its own access point.
 */

/** `--permission` since Node 22.13 and 23.5; `--experimental-permission` before (Node 20). */
function permissionFlag(version = process.versions.node): string {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const stable = major > 23 || (major === 23 && minor >= 5) || (major === 22 && minor >= 13);
  return stable ? '--permission' : '--experimental-permission';
}

/** Node flags that let a script read `readable` (its own code) and read and write `writable` only. */
export function confinedTo({ readable, writable }: { readable: string[]; writable: string[] }): string[] {
  return [
    permissionFlag(),
    // The model is experimental on Node 20; its warning is noise in every tenant's output.
    '--disable-warning=ExperimentalWarning',
    // One path per flag: Node 20.16+ no longer splits a list on commas.
    ...[...readable, ...writable].map((path) => `--allow-fs-read=${path}`),
    ...writable.map((path) => `--allow-fs-write=${path}`),
  ];
}
