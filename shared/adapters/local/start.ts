import { join, resolve } from 'node:path';
import { ConfigError } from '../../config.js';
import { startEmbedded, type Embedded } from './embedded.js';
import { StartError } from './start-error.js';

/** A Ctrl-C this long after the first is the user's second, not npm passing the first one on. */
const SECOND_CTRL_C_MS = 1_000;

/** `npm start`: the whole control plane on this machine, until Ctrl-C. */
async function main() {
  // The SDK's notice about Node 22 would repeat on every start; the pinned versions support 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let embedded: Embedded | undefined;
  let fatal: Error | undefined;
  let stopAskedAt: number | undefined;
  // Listened for before anything starts: without a listener a Ctrl-C ends the process at once,
  // saying nothing and leaving every part to its watchdog (with the listener added after the
  // banner, a Ctrl-C sent as the banner appeared did so in 5 of 15 runs). A Ctrl-C during the
  // start stops what has started once it has; a start that fails says so itself.
  const shutdown = async (signal: string) => {
    if (fatal) return;
    if (stopAskedAt !== undefined) {
      // A second Ctrl-C while the start has not finished (DynamoDB Local not answering, say) ends
      // this at once. Not the first one's echo: npm passes each Ctrl-C on too, milliseconds later.
      if (!embedded && Date.now() - stopAskedAt > SECOND_CTRL_C_MS) {
        process.stderr.write('Stopped at once, before the start finished: the watchdogs end what it had started.\n');
        process.exit(130);
      }
      return;
    }
    stopAskedAt = Date.now();
    process.stdout.write(`\n${signal}: stopping tenants, gateway, API and DynamoDB Local…\n`);
    const started = await starting.catch(() => undefined);
    if (!started) return;
    await started.stop();
    // Checked, not assumed: a process that survived SIGKILL or left its group would be missed.
    const left = await started.stillRunning();
    if (left.length > 0) {
      process.stderr.write(`Stopped, but these tenant processes are still running:\n${left.map((line) => `  ${line}\n`).join('')}`);
      process.exit(1);
    }
    process.stdout.write('Stopped. Nothing is left running.\n');
    process.exit(0);
  };
  const stopOn = (signal: string) =>
    shutdown(signal).catch((error: unknown) => {
      process.stderr.write(`Dormouse could not stop cleanly: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
  process.on('SIGINT', () => void stopOn('SIGINT'));
  process.on('SIGTERM', () => void stopOn('SIGTERM'));

  process.stdout.write('Starting Dormouse (embedded mode): DynamoDB Local, gateway, control plane, API…\n');
  const starting: Promise<Embedded> = startEmbedded(process.env, {
    onTransition: (line) => process.stdout.write(`${line}\n`),
    onWarning: (line) => process.stderr.write(`${line}\n`),
    onNotice: (line) => process.stderr.write(`${line}\n`),
    onFatal: (error) => {
      // During a stop, the stop goes on: it ends DynamoDB Local anyway.
      if (fatal || stopAskedAt !== undefined) return;
      fatal = error;
      process.stderr.write(`Dormouse is stopping: ${error.message}\n`);
      // Nothing can be served without the store or the gateway: stop the rest and say so with the exit code.
      void (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  });
  embedded = await starting;
  if (stopAskedAt !== undefined || fatal) return;
  const gatewayPort = new URL(embedded.gatewayUrl).port;
  const lines = [
    '',
    '  Dormouse is running (embedded mode)',
    '',
    `  Signup page  ${embedded.apiUrl}/`,
    `  API          ${embedded.apiUrl}`,
    `  Gateway      ${embedded.gatewayUrl}   (tenants at http://<slug>.localhost:${gatewayPort})`,
    `  DynamoDB     ${embedded.dynamoEndpoint} (${process.env.DORMOUSE_DATA_DIR ? `data in ${resolve(process.env.DORMOUSE_DATA_DIR)}` : 'in memory'})`,
    ...(embedded.tenantData
      ? [
          `  Tenant data  ${join(embedded.tenantData.dir, '<slug>')}   (each tenant's DATA_DIR; ${embedded.tenantData.temporary ? 'removed when Dormouse stops: set DORMOUSE_DATA_DIR to keep it' : 'kept across restarts'}, removed when the tenant is deleted)`,
        ]
      : []),
    `  Admin token  ${embedded.adminToken}${embedded.adminTokenGenerated ? '  (generated; set DORMOUSE_ADMIN_TOKEN to keep one)' : ''}`,
    '',
    '  Try it:',
    `    curl -s -X POST ${embedded.apiUrl}/tenants -H 'content-type: application/json' \\`,
    `      -d '{"slug":"acme","email":"ann@acme.test"}'`,
    `    curl -s -H 'Host: acme.localhost' ${embedded.gatewayUrl}/whoami`,
    '',
    '  One line per tenant transition follows. Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StartError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Dormouse could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
