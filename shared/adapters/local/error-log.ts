export type ErrorHandler = (context: string, error: unknown) => void;

/**
 * An error as one terminal line: its name and message. The control plane retries or resyncs
 * what failed, so a stack trace would only bury the transition lines a user reads.
 */
export function errorLine(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export interface QuietErrors {
  onError: ErrorHandler;
  /** Drops every error until `resume()`: the outage they come from was already said in a line of its own. */
  pause(): void;
  resume(): void;
}

/**
 * Passes each error on once per `windowMs` for the same message: a dead store makes the stream
 * poller, the reconciler and the sweep fail the same way many times a second, and one line says
 * it. Repeats are counted and the count comes with the next line passed on.
 */
export function quietErrors(onError: ErrorHandler, { windowMs = 60_000, now = Date.now } = {}): QuietErrors {
  const lastShown = new Map<string, { at: number; suppressed: number }>();
  let paused = false;
  return {
    onError(context, error) {
      if (paused) return;
      const key = errorLine(error);
      const seen = lastShown.get(key);
      if (seen && now() - seen.at < windowMs) {
        seen.suppressed++;
        return;
      }
      const suppressed = seen?.suppressed ?? 0;
      lastShown.set(key, { at: now(), suppressed: 0 });
      onError(suppressed > 0 ? `${context} (and ${suppressed} more like it)` : context, error);
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
  };
}
