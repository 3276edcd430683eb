import { ConfigError } from '../../config.js';
import { startEmbedded } from './embedded.js';

/** `npm start`: the control plane on this machine, until Ctrl-C. */
async function main() {
  process.stdout.write('Starting Dormouse (embedded mode): DynamoDB Local, then the API…\n');
  const embedded = await startEmbedded();
  const lines = [
    '',
    '  Dormouse is running (embedded mode)',
    '',
    `  API          ${embedded.apiUrl}`,
    `  Health       ${embedded.apiUrl}/healthz`,
    `  DynamoDB     ${embedded.dynamoEndpoint} (${process.env.DORMOUSE_DATA_DIR ? `data in ${process.env.DORMOUSE_DATA_DIR}` : 'in memory'})`,
    `  Admin token  ${embedded.adminToken}${embedded.adminTokenGenerated ? '  (generated; set DORMOUSE_ADMIN_TOKEN to keep one)' : ''}`,
    '',
    '  Sign up a tenant:',
    `    curl -s -X POST ${embedded.apiUrl}/tenants -H 'content-type: application/json' \\`,
    `      -d '{"slug":"acme","email":"ann@acme.test"}'`,
    '',
    '  Tenants are recorded, but nothing runs them yet: the reconciler is not built.',
    '  Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Dormouse…\n`);
    await embedded.stop();
    process.stdout.write('Stopped. Nothing is left running.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Dormouse could not start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  }
  process.exit(1);
});
