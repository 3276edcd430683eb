/**
 * Embedded mode cannot start for a reason the person starting it can fix: said in one line that
 * names the setting to change, without a stack trace.
 */
export class StartError extends Error {
  constructor(
    readonly variable: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${variable}: ${message}`, options);
    this.name = 'StartError';
  }
}

/** Runs `start`, turning "address in use" into a StartError that names the port's setting. */
export async function naming<T>(variable: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || error instanceof PortInUseError) {
      throw new StartError(variable, `port ${port} is already in use by another program; stop it or choose another port.`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** A server could not listen because its port is taken. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`Port ${port} is already in use`);
    this.name = 'PortInUseError';
  }
}
