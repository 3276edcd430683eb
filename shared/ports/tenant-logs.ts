/** What a tenant's application printed, as the API serves it. */
export interface LogLine {
  /** ISO time the line was written. */
  at: string;
  message: string;
  /** Known in embedded mode; CloudWatch Logs does not say. */
  stream?: 'stdout' | 'stderr';
}

export interface LogQuery {
  /** ISO time: lines from then on, oldest first. Without it (and without `next`): the newest lines. */
  since?: string;
  /** At most this many lines. */
  limit: number;
  /** Where a previous page ended: the lines after it (for following the output). */
  next?: string;
}

export interface LogPage {
  lines: LogLine[];
  /** Pass back as `next` for the lines that come after these. */
  next?: string;
}

/** The tasks whose output is asked for, newest first (their ids); only AWS needs them. */
export interface LogSource {
  tenantId: string;
  tasks: string[];
}

/** Where tenants' output is kept: files in embedded mode, the tenant log group on AWS. */
export interface TenantLogs {
  /** Throws a ValidationError for a `next` it did not hand out. */
  read(source: LogSource, query: LogQuery): Promise<LogPage>;
}
