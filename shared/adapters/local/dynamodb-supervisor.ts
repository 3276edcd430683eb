import { ListTablesCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local.js';
import type { QuietErrors } from './error-log.js';
import { StartError, naming } from './start-error.js';

export interface SupervisorOptions {
  /** Absolute; in memory when absent. */
  dataDir: string | undefined;
  port: number | undefined;
  errors: QuietErrors;
  notice: (line: string) => void;
  onFatal: (error: Error) => void;
}

/** How many unexpected exits within RESTART_WINDOW_MS are restarted before giving up. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 5 * 60_000;

/**
 * Starts DynamoDB Local and watches it. When it dies, a store with a data directory is restarted
 * on the same port (its data is on disk, and every client keeps its endpoint); one in memory has
 * lost everything, which is fatal. Errors from the rest of the control plane are held back while
 * it is down: the one line said here is what the person at the terminal needs.
 */
export async function superviseDynamoDbLocal(options: SupervisorOptions): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const { dataDir, errors, notice, onFatal } = options;
  const restarts: number[] = [];
  let stopping = false;
  let restarting: Promise<void> | undefined;
  const start = (port: number | undefined): Promise<DynamoDbLocal> =>
    naming('DORMOUSE_DYNAMODB_PORT', port ?? 0, () =>
      startDynamoDbLocal({
        ...(dataDir ? { dataDir } : {}),
        ...(port ? { port } : {}),
        onUnexpectedExit: (how) => {
          restarting = restart(how);
        },
      }),
    );
  let current = await start(options.port);
  const port = current.port;

  async function restart(how: string) {
    if (stopping) return;
    errors.pause();
    if (!dataDir) {
      onFatal(new Error(`DynamoDB Local stopped (${how}) and its data was in memory. Set DORMOUSE_DATA_DIR to keep data across restarts.`));
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      onFatal(
        new Error(
          `DynamoDB Local stopped ${restarts.length} times within ${RESTART_WINDOW_MS / 60_000} minutes (last: ${how}); not restarting it again.`,
        ),
      );
      return;
    }
    notice(`Dormouse: DynamoDB Local stopped (${how}); restarting it with the data in ${dataDir}.`);
    try {
      current = await start(port);
      if (stopping) return void (await current.stop());
      notice('Dormouse: DynamoDB Local is running again.');
      errors.resume();
    } catch (error) {
      onFatal(new Error(`DynamoDB Local stopped (${how}) and could not be restarted: ${(error as Error).message}`, { cause: error }));
    }
  }

  return {
    endpoint: current.endpoint,
    async stop() {
      stopping = true;
      // A JVM being started again must not outlive the stop.
      await restarting;
      await current.stop();
    },
  };
}

/** An endpoint given by DORMOUSE_DYNAMODB_ENDPOINT must answer at start, not leave every request to fail later. */
export async function ensureReachable(client: DynamoDBClient, endpoint: string): Promise<void> {
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(5_000) });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
    throw new StartError(
      'DORMOUSE_DYNAMODB_ENDPOINT',
      `no DynamoDB answers at ${endpoint} (${reason}); start it there, or unset the variable to have Dormouse start its own.`,
      { cause: error },
    );
  }
}
