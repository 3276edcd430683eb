import { parseArgs } from 'node:util';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ApiClient } from './api-client.js';
import * as commands from './commands.js';
import { CliError, EXIT } from './errors.js';
import { localTarget } from './local-target.js';
import { printable } from './output.js';
import type { Target } from './target.js';

export const USAGE = `Usage: dormouse <command> [options]

Commands:
  list [--phase P]                        tenants, newest first
  get <id>                                one tenant
  create <slug> --email E [--plan P]      sign a tenant up (prints its token once)
  passivate <id> [--wait]                 put a tenant to sleep
  wake <id> [--wait]                      wake a tenant
  delete <id> [--wait]                    delete a tenant and its data
  plan <id> <plan>                        move a tenant to another plan
  extend <id> --days N                    end the trial N days later
  logs <id> [--follow] [--since ISO] [--limit N]
  events <id>                             the tenant's timeline
  console [--port N]                      the operator console: with --stack, served on loopback
                                          (default port 8001) and signed with your credentials

Target (one of):
  --api URL        a local API (default http://127.0.0.1:3000), admin token from DORMOUSE_ADMIN_TOKEN
  --stack NAME     a Dormouse stack on AWS, signed with your AWS credentials [--region R]

Options:
  --json           JSON on stdout instead of tables
  --wait           follow the tenant until done [--timeout SECONDS, default 300]
  -h, --help       this text

Exit status: 0 done, 1 unexpected error, 2 bad command line, 3 no such tenant or stack,
4 credential missing or refused, 5 request refused by the API, 6 tenant failed (--wait),
7 timed out (--wait), 8 API unreachable or failing.
`;

/** What the CLI runs with; tests give their own streams, fetch, CloudFormation client and poll interval. */
export interface CliEnvironment {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
  fetch?: typeof globalThis.fetch;
  cloudFormation?: (region: string | undefined) => CloudFormationClient;
  pollMs?: number;
  signal?: AbortSignal;
}

const OPTIONS = {
  api: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean', default: false },
  wait: { type: 'boolean', default: false },
  timeout: { type: 'string' },
  phase: { type: 'string' },
  email: { type: 'string' },
  plan: { type: 'string' },
  days: { type: 'string' },
  follow: { type: 'boolean', short: 'f', default: false },
  since: { type: 'string' },
  limit: { type: 'string' },
  port: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Options = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** Runs one command line; returns the exit status. Errors are printed in one line, never as a stack. */
export async function runCli(argv: string[], environment: CliEnvironment): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parse(argv);
    } catch (error) {
      throw new CliError(`${error instanceof Error ? error.message : String(error)} (dormouse --help lists the commands)`, EXIT.usage);
    }
    const { values, positionals } = parsed;
    const [name, ...args] = positionals;
    if (values.help || !name) {
      environment.stdout(USAGE);
      return values.help ? EXIT.ok : EXIT.usage;
    }
    await run(name, args, values, environment);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) {
      environment.stderr(`dormouse: ${printable(error.message)}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    environment.stderr(`dormouse: unexpected error: ${message.split('\n')[0]}\n`);
    return EXIT.failure;
  }
}

async function run(name: string, args: string[], options: Options, environment: CliEnvironment): Promise<void> {
  const expect = (count: number, shape: string) => {
    if (args.length !== count) throw new CliError(`usage: dormouse ${name} ${shape}`, EXIT.usage);
    return args;
  };
  const wait = options.wait ? { timeoutMs: positiveInteger(options.timeout ?? '300', '--timeout') * 1000 } : undefined;
  const context = async (): Promise<commands.CommandContext> => ({
    client: new ApiClient(await targetOf(options, environment)),
    out: environment,
    json: options.json,
    pollMs: environment.pollMs ?? 1000,
    ...(environment.signal ? { signal: environment.signal } : {}),
  });

  switch (name) {
    case 'list':
      expect(0, '[--phase P]');
      return commands.list(await context(), options.phase);
    case 'get':
      return commands.get(await context(), ...(expect(1, '<id>') as [string]));
    case 'create': {
      const [slug] = expect(1, '<slug> --email E [--plan P]') as [string];
      if (!options.email) throw new CliError('usage: dormouse create <slug> --email E [--plan P] (the email is required)', EXIT.usage);
      return commands.create(await context(), { slug, email: options.email, ...(options.plan ? { plan: options.plan } : {}) }, wait);
    }
    case 'passivate':
    case 'wake':
    case 'delete':
      return commands.command(await context(), ...(expect(1, '<id> [--wait]') as [string]), name, wait);
    case 'plan':
      return commands.changePlan(await context(), ...(expect(2, '<id> <plan>') as [string, string]));
    case 'extend': {
      const [id] = expect(1, '<id> --days N') as [string];
      if (options.days === undefined) throw new CliError('usage: dormouse extend <id> --days N (--days is required)', EXIT.usage);
      return commands.extend(await context(), id, positiveInteger(options.days, '--days'));
    }
    case 'logs': {
      const [id] = expect(1, '<id> [--follow] [--since ISO] [--limit N]') as [string];
      if (options.since !== undefined && Number.isNaN(Date.parse(options.since))) {
        throw new CliError(`--since ${options.since} is not a date: give an ISO time, e.g. 2026-01-31T09:00:00Z.`, EXIT.usage);
      }
      return commands.logs(await context(), id, {
        follow: options.follow,
        ...(options.since ? { since: new Date(options.since).toISOString() } : {}),
        ...(options.limit ? { limit: positiveInteger(options.limit, '--limit') } : {}),
      });
    }
    case 'events':
      return commands.events(await context(), ...(expect(1, '<id>') as [string]));
    case 'console':
      expect(0, '[--stack NAME [--port N] | --api URL]');
      return serveConsole(options, environment);
    default:
      throw new CliError(`unknown command "${name}" (dormouse --help lists the commands)`, EXIT.usage);
  }
}

/** The target the options name: a stack on AWS, or a local API with the admin token. */
export async function targetOf(options: { api?: string; stack?: string; region?: string }, environment: CliEnvironment): Promise<Target> {
  if (options.api && options.stack) throw new CliError('give either --api or --stack, not both', EXIT.usage);
  const fetch = environment.fetch ?? globalThis.fetch;
  if (options.stack) {
    // The AWS SDK is loaded only for a stack: local commands start sooner without it.
    const [{ stackTarget }, { CloudFormationClient }] = await Promise.all([
      import('./aws-target.js'),
      import('@aws-sdk/client-cloudformation'),
    ]);
    const cloudFormation =
      environment.cloudFormation?.(options.region) ?? new CloudFormationClient(options.region ? { region: options.region } : {});
    return stackTarget({ stackName: options.stack, cloudFormation, fetch });
  }
  return localTarget({ apiUrl: options.api ?? 'http://127.0.0.1:3000', adminToken: environment.env.DORMOUSE_ADMIN_TOKEN, fetch });
}

/** The default port of `dormouse console --stack`, as `kubectl proxy` has one: a URL to bookmark. */
const CONSOLE_PORT = 8001;

/**
 * The console. Embedded mode's API serves it itself, so locally this only says where; for a stack
 * it serves the page on loopback and signs the page's calls, until Ctrl-C (or the signal).
 */
async function serveConsole(options: Options, environment: CliEnvironment): Promise<void> {
  if (!options.stack) {
    if (options.port) throw new CliError('--port is for --stack: locally the API serves the console on its own port', EXIT.usage);
    const apiUrl = new URL('/console', options.api ?? 'http://127.0.0.1:3000');
    environment.stdout(`Open ${apiUrl.href} (it asks for DORMOUSE_ADMIN_TOKEN once).\n`);
    return;
  }
  const target = await targetOf(options, environment);
  const { startConsoleServer } = await import('../shared/adapters/local/console-server.js');
  const port = options.port === undefined ? CONSOLE_PORT : portNumber(options.port);
  let server;
  try {
    server = await startConsoleServer({ port, forward: target.forward });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is in use: pick another with --port`, EXIT.usage);
    throw error;
  }
  environment.stdout(`Console for ${target.name}: ${server.url} (Ctrl-C stops it)\n`);
  await untilStopped(environment.signal);
  await server.close();
}

/** Resolves on Ctrl-C, SIGTERM or the signal's abort. */
function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
}

/** A TCP port for --port; 0 picks a free one. */
function portNumber(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) throw new CliError(`--port ${text} is not a port (0–65535)`, EXIT.usage);
  return value;
}

/** A positive whole number given for `option`. */
function positiveInteger(text: string, option: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new CliError(`${option} ${text} is not a positive whole number`, EXIT.usage);
  return value;
}
