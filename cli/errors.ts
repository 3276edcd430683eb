/**
 * What the CLI's exit status means, so scripts can tell "try again later" from "fix the command".
 * Documented in the README; keep the two in step.
 */
export const EXIT = {
  ok: 0,
  /** Something unexpected: a bug, or an answer the CLI does not understand. */
  failure: 1,
  /** The command line is wrong (unknown command or option, missing argument). */
  usage: 2,
  /** No such tenant, or no such stack. */
  notFound: 3,
  /** No credential, or one the API refuses (401/403). */
  denied: 4,
  /** The API refused the request as asked (400, 409, 422, 429). */
  refused: 5,
  /** `--wait`: the tenant ended in Failed. */
  tenantFailed: 6,
  /** `--wait`: not done within `--timeout`. */
  timedOut: 7,
  /** The API could not be reached or answered 5xx. */
  unavailable: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in one line, with what to do, and the exit status to end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
