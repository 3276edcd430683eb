/** How long an export's download link and a restore's upload link work. */
export const ARCHIVE_LINK_SECONDS = 3600;
/** A restore unpacks to at most this many bytes of files... */
export const RESTORE_MAX_BYTES = 1024 ** 3;
/** ...and at most this many files and directories. */
export const RESTORE_MAX_ENTRIES = 100_000;
