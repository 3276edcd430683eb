import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { loadApiConfig, loadEmbeddedConfig, unknownSettings, type Env } from '../../config.js';
import { reconcileSettings, type ReconcileTimings } from '../../config/reconcile-settings.js';
import { withLocalDefaults } from '../../config/settings.js';
import { sweep, type StuckTenant, type SweepReport } from '../../app/sweep.js';
import type { TenantChange } from '../../domain/domain-events.js';
import { costPrices } from '../../domain/prices.js';
import { createApiHandler } from '../../http/api.js';
import { consolePageResponse } from '../../http/console-page.js';
import { apiDeps } from '../aws/composition/api.js';
import { wakeEstimate } from '../aws/composition/clients.js';
import { wakeDeps } from '../aws/composition/wake.js';
import { createWakeHandler } from '../../http/wake-handler.js';
import { systemClock } from '../../ports/clock.js';
import { documentClientFor } from '../aws/dynamodb-tenant-store.js';
import { CachedTenantStore } from './cached-tenant-store.js';
import { claimTable } from './table-claim.js';
import { createIdempotencyTableInput, createTenantTableInput } from '../aws/tenant-table.js';
import { albInvoker } from './alb-fallback.js';
import { startControlPlane } from './control-plane.js';
import { prepareDataDir } from './data-dir.js';
import { DirectoryStorage } from './directory-storage.js';
import { ensureTables, localDynamoDbClient } from './dynamodb-local.js';
import { ensureReachable, superviseDynamoDbLocal } from './dynamodb-supervisor.js';
import { errorLine, quietErrors } from './error-log.js';
import { startGatewayThread, type GatewayThread } from './gateway-thread.js';
import { LocalDns } from './local-dns.js';
import { GatewayRouting } from './gateway-routing.js';
import { serveHttpApi } from './http-api.js';
import { LocalDataArchives } from './local-archives.js';
import { LocalOutbox } from './outbox.js';
import { LocalTenantLogs } from './local-tenant-logs.js';
import { ProcessCompute } from './process-compute.js';
import { naming } from './start-error.js';
import { storeHealth } from './store-health.js';

/** Local tasks start in a second and are listed at once: poll and back off quickly. */
/** The wake function's timeout is its hold plus this, as the CDK app sets it on AWS. */
const WAKE_TIMEOUT_MARGIN_MS = 5_000;

const LOCAL_TIMINGS: Partial<ReconcileTimings> = {
  pollMs: 500,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  queueRetryMs: 5_000,
  listingLagMs: 0,
  leaseMs: 60_000,
  // Local task events arrive at once; a local target's health is known within a poll.
  eventTrustMs: 5_000,
  healthWaitMs: 500,
};

export interface Embedded {
  apiUrl: string;
  gatewayUrl: string;
  /**
   * With several shards, a gateway per shard that acts as that shard's load balancer only: where a
   * visitor whose DNS answer still names a tenant's old shard lands. Empty with one shard.
   */
  shardGatewayUrls: string[];
  /** How busy the gateways' thread has been (see startGatewayThread). Absent when no tenant runs (apiOnly). */
  gatewayLoad?: GatewayThread['eventLoopUtilization'];
  dynamoEndpoint: string;
  adminToken: string;
  /** True when the admin token was generated because none was configured. */
  adminTokenGenerated: boolean;
  /** Runs one sweep now (it also runs every DORMOUSE_SWEEP_SECONDS). */
  sweepNow(): Promise<SweepReport>;
  /**
   * The tenant records every part of this run reads and writes (see CachedTenantStore). A record
   * changed in the table any other way is not seen until restart: tests that set a tenant's state
   * directly write it here.
   */
  store: CachedTenantStore;
  /**
   * Where each tenant's data lives: `<dir>/<tenant>`, its DATA_DIR. `temporary` when Dormouse
   * runs in memory: the directory goes when it stops. Absent when no tenant runs (apiOnly).
   */
  tenantData?: { dir: string; temporary: boolean };
  /** Stops everything it started: tenants, gateway, API, DynamoDB Local. Safe to call twice. */
  stop(): Promise<void>;
  /** Tenant processes of this run still alive, and its tenant watchdog, one line each: none once `stop` has resolved, normally. */
  stillRunning(): Promise<string[]>;
}

export interface EmbeddedOptions {
  /**
   * Only DynamoDB Local and the API: tenants are recorded but nothing runs them. For tests of
   * the API alone, and for running the control plane elsewhere in this process, on `store`.
   */
  apiOnly?: boolean;
  /** One line per tenant transition, and one per tenant found stuck in a phase, e.g. to print. */
  onTransition?: (line: string) => void;
  /** Repeats of the same error within a minute are counted, not passed on. */
  onError?: (context: string, error: unknown) => void;
  /** One line about the configuration, such as a DORMOUSE_* variable that nothing reads. @default console.warn */
  onWarning?: (line: string) => void;
  /** One line about the embedded store, such as DynamoDB Local being restarted. @default console.warn */
  onNotice?: (line: string) => void;
  /**
   * Embedded mode cannot go on: DynamoDB Local died with its data in memory, or will not come
   * back, or the gateways' thread stopped. Everything else still runs until `stop()`; the caller
   * decides. @default onError
   */
  onFatal?: (error: Error) => void;
  /** How long export and upload links work; tests shorten it. @default ARCHIVE_LIMITS.linkTtlMs (an hour) */
  archiveLinkTtlMs?: number;
}

/**
 * The whole control plane on one machine, with the same use cases and the same DynamoDB
 * adapter as on AWS. Only compute (child processes), routing (a gateway), events (an in-process
 * bus fed by the table's stream) and schedules (timers) are local.
 */
export async function startEmbedded(env: Env = process.env, options: EmbeddedOptions = {}): Promise<Embedded> {
  const local = loadEmbeddedConfig(env);
  const warn = options.onWarning ?? ((line) => console.warn(line));
  for (const { name, closest } of unknownSettings(env, ['api', 'embedded'])) {
    warn(`Dormouse: ${name} is not a setting of embedded mode and is ignored; did you mean ${closest}?`);
  }
  const installation = local.installation;
  const adminToken = env.DORMOUSE_ADMIN_TOKEN || randomBytes(24).toString('base64url');
  const reportError = options.onError ?? ((context, error) => console.error(`Dormouse: error ${context}: ${errorLine(error)}`));
  const errors = quietErrors(reportError);
  const onError = errors.onError;
  const notice = options.onNotice ?? ((line) => console.warn(line));
  // Not held back with the rest: it is the one line that matters.
  const onFatal = options.onFatal ?? ((error) => reportError('running embedded mode', error));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    while (stops.length) await stops.pop()?.();
  };

  try {
    const dataDir = local.dataDir ? await prepareDataDir(local.dataDir) : undefined;
    const dynamo = local.dynamoDbEndpoint
      ? { endpoint: local.dynamoDbEndpoint, stop: async () => {} }
      : await superviseDynamoDbLocal({
          dataDir,
          port: local.dynamoDbPort,
          errors,
          notice,
          onFatal,
        });
    stops.push(() => dynamo.stop());

    const dynamoClient = localDynamoDbClient(dynamo.endpoint);
    stops.push(async () => dynamoClient.destroy());
    if (local.dynamoDbEndpoint) await ensureReachable(dynamoClient, local.dynamoDbEndpoint);
    const configFor = (gatewayPort: number) => ({
      ...loadApiConfig({
        ...withLocalDefaults(env),
        // Tenants are reached through the local gateway as http://<slug>.localhost:<port>.
        DORMOUSE_BASE_URL: `http://localhost:${gatewayPort}`,
        DORMOUSE_ADMIN_TOKEN: adminToken,
        // The machine's unless set: the tenants run here.
        DORMOUSE_TASK_ARCHITECTURE: local.taskArchitecture,
      }),
      // The very plans the tenants run on (their sleep time in DORMOUSE_IDLE_SECONDS here), so
      // that the API tells a plan's current definition from the one a task started with.
      plans: local.reconcile.plans,
    });
    const quiet = new Logger({ serviceName: 'dormouse', logLevel: (env.POWERTOOLS_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN' });

    let config = configFor(local.gatewayPort);
    // One store for the API, the wake handler and the control plane: see CachedTenantStore.
    const documentClient = documentClientFor(dynamoClient);
    const store = new CachedTenantStore({ tableName: config.tenantTable, client: documentClient });
    let apiOrigin = '';
    // The waking pages link to the self-service page, whose address is known once the API listens.
    const wakePages: { brand: typeof config.brand; manageUrl?: URL } = { brand: config.brand };
    await ensureTables(dynamoClient, [createTenantTableInput(config.tenantTable), createIdempotencyTableInput(config.idempotencyTable)]);
    const claim = await claimTable({ client: documentClient, tableName: config.tenantTable, onLost: onFatal });
    stops.push(() => claim.release());
    let runtime: Awaited<ReturnType<typeof startRuntime>> | undefined;
    if (!options.apiOnly) runtime = await startRuntime();

    /** In memory, tenants' data lives as long as this run: in a temporary directory removed at stop. */
    async function temporaryTenantData(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'dormouse-data-'));
      stops.push(() => rm(dir, { recursive: true, force: true }));
      return dir;
    }

    /** Gateway, compute, control plane and sweep: everything that makes tenants run. */
    async function startRuntime() {
      // The gateway's port is in every tenant URL, so it starts first.
      const routing = new GatewayRouting({ installation, healthCheckPath: local.healthCheckPath });
      stops.push(async () => routing.close());
      const dataRoot = dataDir ?? (await temporaryTenantData());
      // Beside the tenants' data directories, not in them (see LocalTenantLogs).
      const tenantLogs = new LocalTenantLogs(dataRoot);
      stops.push(() => tenantLogs.flush());
      const compute = new ProcessCompute({
        installation,
        ...(local.tenantCommand ? { command: ['/bin/sh', '-c', local.tenantCommand] } : {}),
        onOutput: ({ tenantId, stream, line }) =>
          void tenantLogs.append(tenantId, { at: new Date().toISOString(), stream, message: line }, (error) =>
            onError(`keeping the output of ${tenantId}`, error),
          ),
      });
      stops.push(() => compute.stopAll());
      const storage = new DirectoryStorage(dataRoot);
      const tenantData = { dir: storage.tenantsDir, temporary: !dataDir };
      // Links point at the API, which listens once the runtime is up.
      const archives = new LocalDataArchives({
        root: dataRoot,
        storage,
        apiOrigin: () => apiOrigin,
        ...(options.archiveLinkTtlMs !== undefined ? { linkTtlMs: options.archiveLinkTtlMs } : {}),
      });
      await archives.prepare();
      stops.push(async () => archives.close());
      // A run killed outright (kill -9) whose watchdog could not act either left these.
      await compute.reapLeftovers();
      // The wake function, as the gateways' default action calls it; made once the gateway's port is known.
      let invokeWake: ReturnType<typeof albInvoker> | undefined;
      // The main gateway acts as every shard (as up-to-date DNS would); the others as one shard each.
      const shards = local.reconcile.shards > 1 ? Array.from({ length: local.reconcile.shards }, (_, shard) => shard) : [];
      const gateways = await naming('DORMOUSE_GATEWAY_PORT', local.gatewayPort, () =>
        startGatewayThread({
          gateways: [{ port: local.gatewayPort }, ...shards.map((shard) => ({ port: 0, shard }))],
          routing,
          fallback: (request) => invokeWake!(request),
          onFailure: onFatal,
        }),
      );
      stops.push(() => gateways.close());
      const gateway = gateways.gateways[0]!;
      const shardGateways = gateways.gateways.slice(1);
      config = configFor(gateway.port);
      const wakeHandler = createWakeHandler(
        wakeDeps(
          {
            tenantTable: config.tenantTable,
            baseUrl: config.baseUrl,
            maxActiveTenants: local.reconcile.maxActiveTenants,
            shards: local.reconcile.shards,
            minRunMs: local.minRunMs,
            anonymousWakesPerHour: local.anonymousWakesPerHour,
            holdMs: local.wakeHoldMs,
            plans: local.reconcile.plans,
          },
          { dynamoClient, store },
        ),
        quiet,
        { pages: wakePages },
      );
      invokeWake = albInvoker(wakeHandler, { timeoutMs: local.wakeHoldMs + WAKE_TIMEOUT_MARGIN_MS });

      const controlPlane = await startControlPlane({
        dynamoClient,
        dynamoEndpoint: dynamo.endpoint,
        store,
        prices: costPrices(local.taskArchitecture),
        reconcileDeps: {
          compute,
          routing,
          // One gateway acts as every shard, and *.localhost resolves to it: no record to make.
          dns: new LocalDns(),
          storage,
          // Each wake the reconciler ends feeds the waking page's estimate, as on AWS.
          wakeTimes: wakeEstimate(config.tenantTable, dynamoClient),
          clock: systemClock,
          settings: reconcileSettings(
            { ...local.reconcile, baseUrl: config.baseUrl },
            { ...LOCAL_TIMINGS, unhealthyTimeoutMs: local.unhealthyTimeoutMs },
          ),
        },
        onTaskEvent: (listener) => compute.onTaskEvent(listener),
        onChange: (change) => {
          const line = transitionLine(change);
          if (line) options.onTransition?.(line);
          // A deleted tenant's output goes with it, as its timeline does.
          const { before, after } = change;
          if (after?.status.phase === 'Deleted' && before?.status.phase !== 'Deleted') {
            tenantLogs.remove(after.id).catch((error: unknown) => onError(`removing the output of ${after.id}`, error));
          }
        },
        onError,
      });
      stops.push(() => controlPlane.stop());

      const warnStuck = stuckWarnings();
      const runSweep = () =>
        sweep(
          {
            store,
            activity: gateways.activity,
            clock: systemClock,
            reconcile: async (tenantId) => {
              controlPlane.loop.trigger(tenantId);
              return {};
            },
            drift: { compute, routing, storage },
          },
          {
            // The built-in trial plan sleeps after DORMOUSE_IDLE_SECONDS; DORMOUSE_PLANS may say otherwise.
            plans: local.reconcile.plans,
            warmLeadMs: local.warmLeadMs,
            minRunMs: local.minRunMs,
            // The gateway counts exactly, with no reporting delay to wait out.
            minActivityWindowMs: 0,
            resyncMs: 60_000,
            stuckMs: local.stuckMs,
          },
        ).then((report) => {
          for (const line of warnStuck(report.stuck)) options.onTransition?.(line);
          return report;
        });
      let sweeping: Promise<unknown> = Promise.resolve();
      const sweepTimer = setInterval(() => {
        sweeping = runSweep().catch((error: unknown) => onError('sweeping', error));
      }, local.sweepMs);
      stops.push(async () => {
        clearInterval(sweepTimer);
        await sweeping;
      });
      // Tenants that should run were left without processes by the last stop: bring them back.
      await controlPlane.resync();
      return {
        gatewayUrl: gateway.url,
        shardGatewayUrls: shardGateways.map((shardGateway) => shardGateway.url),
        gatewayLoad: gateways.eventLoopUtilization,
        sweepNow: runSweep,
        compute,
        tenantData,
        archives,
        tenantLogs,
      };
    }

    const health = storeHealth({ client: dynamoClient, tableName: config.tenantTable });
    const outbox = new LocalOutbox();
    const archives = runtime?.archives;
    const handler = createApiHandler({
      ...apiDeps(config, {
        dynamoClient,
        store,
        logger: quiet,
        emailSender: outbox,
        outbox,
        ...(runtime ? { logs: runtime.tenantLogs } : {}),
      }),
      consolePage: consolePageResponse('token', config.brand),
      health,
      ...(archives ? { archives } : {}),
    });
    const api = await naming('DORMOUSE_API_PORT', local.apiPort, () =>
      serveHttpApi(handler, { port: local.apiPort, ...(archives ? { streamed: (req, res) => archives.serve(req, res) } : {}) }),
    );
    apiOrigin = api.url;
    wakePages.manageUrl = new URL('/manage', api.url);
    stops.push(() => api.close());

    return {
      apiUrl: api.url,
      gatewayUrl: runtime?.gatewayUrl ?? config.baseUrl.origin,
      shardGatewayUrls: runtime?.shardGatewayUrls ?? [],
      ...(runtime ? { gatewayLoad: runtime.gatewayLoad } : {}),
      dynamoEndpoint: dynamo.endpoint,
      adminToken,
      adminTokenGenerated: !env.DORMOUSE_ADMIN_TOKEN,
      sweepNow: runtime?.sweepNow ?? (() => Promise.reject(new Error('Not running tenants (apiOnly)'))),
      store,
      ...(runtime ? { tenantData: runtime.tenantData } : {}),
      stop,
      stillRunning: async () => {
        if (!runtime) return [];
        const left = (await runtime.compute.stillRunning()).map(
          (group) => `tenant ${group.tenantId}: process group ${group.pgid} (stop it with: kill -KILL -- -${group.pgid})`,
        );
        const watchdog = runtime.compute.watchdogPid();
        return watchdog === undefined
          ? left
          : [...left, `the tenant watchdog: process ${watchdog} (stop it with: kill -KILL -- -${watchdog})`];
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * One warning line per tenant and phase it is stuck in, for the terminal: said once, not at
 * every sweep, and again only once the tenant has moved on and got stuck anew.
 */
function stuckWarnings(): (stuck: StuckTenant[]) => string[] {
  const warned = new Map<string, string>();
  return (stuck) => {
    const now = new Map(stuck.map((tenant) => [tenant.tenantId, tenant.phase]));
    for (const [id, phase] of warned) if (now.get(id) !== phase) warned.delete(id);
    return stuck.flatMap(({ tenantId, phase, minutes, lastError }) => {
      if (warned.get(tenantId) === phase) return [];
      warned.set(tenantId, phase);
      const reason = lastError ? `; last error: ${lastError}` : '; no error recorded';
      return [terminalLine(tenantId, `WARNING: ${phase} for ${minutes} min${reason}`)];
    });
  };
}

/** One line per phase change of a tenant, for the terminal. */
function transitionLine({ before, after }: TenantChange): string | undefined {
  if (!after || before?.status.phase === after.status.phase) return undefined;
  const { phase, lastError } = after.status;
  const reason = lastError ? `  (${lastError})` : '';
  // The stream's own timestamps are coarse in DynamoDB Local; the time of printing is closer.
  return terminalLine(after.id, `${phase}${reason}`);
}

/** `14:29:55  acme             Running`: the time, the tenant, what happened. */
function terminalLine(tenantId: string, text: string): string {
  return `${new Date().toTimeString().slice(0, 8)}  ${tenantId.padEnd(16)} ${text}`;
}
