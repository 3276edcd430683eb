import { spawn } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { ESM_REQUIRE_SHIM, LAMBDA_ALIASES } from '../../cdk/bundling.js';
import type { Row, Section, SectionResult } from '../lib/types.js';

/**
 * Cold start of each Lambda: the bundle CDK's NodejsFunction would deploy (same esbuild options
 * as cdk/constructs/function.ts), its size, and the time a fresh Node process takes to import it
 * and build the handler, against the same handler compiled file by file and loaded from
 * node_modules, which is what shipping the project without a bundler would mean. Both are plain
 * JavaScript, so neither timing includes TypeScript transpilation.
 */

/** Fresh processes per variant; the median is reported. The issue asks for at least 15. */
const RUNS = Number(process.env.BENCH_COLD_START_RUNS ?? 15);
/** The bundle with source maps enabled is a side figure: fewer runs keep the section short. */
const WITH_MAPS_RUNS = Math.max(6, Math.ceil(RUNS / 3));
/** The functions users wait on: their init must stay under a third of the unbundled figure. */
const TARGETED = new Set(['api', 'wake']);
const TARGET_RATIO = 1 / 3;

/** Dummy values for every variable a function reads at cold start; nothing here is ever called. */
const LAMBDA_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCHONLY',
  AWS_SECRET_ACCESS_KEY: 'bench-only',
  AWS_SESSION_TOKEN: 'bench-only',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  // Unroutable: should anything call AWS at import, it fails instead of leaving the machine.
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  DORMOUSE_TABLE_NAME: 'dormouse-tenants',
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'dormouse-idempotency',
  DORMOUSE_BASE_URL: 'https://trials.example.com',
  DORMOUSE_EVENT_BUS_NAME: 'dormouse',
  DORMOUSE_CLUSTER: 'arn:aws:ecs:us-east-1:123456789012:cluster/dormouse-tenants',
  DORMOUSE_TASK_DEFINITION: 'arn:aws:ecs:us-east-1:123456789012:task-definition/dormouse-tenant:1',
  DORMOUSE_CONTAINER_NAME: 'app',
  DORMOUSE_CONTAINER_PORT: '80',
  DORMOUSE_SUBNETS: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
  DORMOUSE_SECURITY_GROUPS: 'sg-0123456789abcdef0',
  DORMOUSE_VPC_ID: 'vpc-0123456789abcdef0',
  DORMOUSE_INSTALLATION: 'bench',
  DORMOUSE_LISTENER_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/dormouse/0123456789abcdef/fedcba9876543210',
  DORMOUSE_LOAD_BALANCER_FULL_NAME: 'app/dormouse/0123456789abcdef',
};

const RUNNER = fileURLToPath(new URL('../lib/init-runner.mjs', import.meta.url));

interface Sample {
  importMs: number;
  cpuMs: number;
  connections: number;
}

function runOnce(file: string, env: Record<string, string>, checkNetwork = false): Promise<Sample> {
  return new Promise((resolve, reject) => {
    // A clean environment: only what a Lambda would have, plus PATH for the node binary.
    const child = spawn(process.execPath, [RUNNER, file, ...(checkNetwork ? ['--check-network'] : [])], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`exit ${code}: ${(stderr || stdout).trim().split('\n').slice(0, 3).join(' ')}`));
        return;
      }
      resolve(JSON.parse(last) as Sample);
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function listTs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => `${entry.parentPath}/${entry.name}`);
}

interface Timing {
  /** Median wall time of the import. */
  ms: number;
  /** Median CPU time (user + system) of the import. */
  cpuMs: number;
  runs: number;
}

interface Measured {
  name: string;
  bytes: number;
  bundled: Timing;
  /** The same bundle with a source map (no sources content) and NODE_OPTIONS=--enable-source-maps. */
  bundledWithMaps: Timing;
  unbundled: Timing;
}

function summarize(samples: Sample[]): Timing {
  return { ms: median(samples.map((s) => s.importMs)), cpuMs: median(samples.map((s) => s.cpuMs)), runs: samples.length };
}

const coldStart: Section = {
  id: 'cold-start',
  title: 'Cold start',
  async run({ root, resultsDir, progress }): Promise<SectionResult> {
    const loadBefore = os.loadavg()[0]!;
    const buildDir = `${resultsDir}.build/`;
    await rm(buildDir, { recursive: true, force: true });
    const names = (await readdir(`${root}lambdas`))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.slice(0, -3))
      .sort();

    // Unbundled: every source file compiled on its own, imports left as they are, so Node
    // resolves them file by file and packages from node_modules. Inside the repository, so
    // node_modules and package.json's "type": "module" apply.
    const unbundledDir = `${buildDir}unbundled/`;
    const sources = [...(await listTs(`${root}shared`)), ...(await listTs(`${root}lambdas`))];
    await build({
      entryPoints: sources,
      outdir: unbundledDir,
      outbase: root,
      bundle: false,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      logLevel: 'silent',
    });

    const measured: Measured[] = [];
    const skipped: string[] = [];
    for (const name of names) {
      const outfile = `${buildDir}bundled/${name}/index.mjs`;
      const withMapsFile = `${buildDir}bundled-with-maps/${name}/index.mjs`;
      try {
        // As CDK's NodejsFunction runs esbuild for cdk/constructs/function.ts: ESM, minified,
        // no source maps, module-first main fields, the require shim and aliases of
        // cdk/bundling.ts, AWS SDK bundled, target from the runtime (nodejs22.x). Then the same
        // with a source map, for the side figure.
        const options: BuildOptions = {
          entryPoints: [`${root}lambdas/${name}.ts`],
          absWorkingDir: root,
          alias: { ...LAMBDA_ALIASES },
          bundle: true,
          platform: 'node',
          target: 'node22',
          format: 'esm',
          minify: true,
          mainFields: ['module', 'main'],
          banner: { js: ESM_REQUIRE_SHIM },
          logLevel: 'silent',
        };
        await build({ ...options, outfile });
        await build({ ...options, outfile: withMapsFile, sourcemap: true, sourcesContent: false });
      } catch (error) {
        skipped.push(`${name} (esbuild: ${(error as Error).message.split('\n')[0]})`);
        continue;
      }
      const bytes = (await stat(outfile)).size;
      const unbundled = `${unbundledDir}lambdas/${name}.js`;
      const env = { ...LAMBDA_ENV, AWS_LAMBDA_FUNCTION_NAME: `dormouse-${name}`, POWERTOOLS_SERVICE_NAME: `dormouse-${name}` };
      try {
        // One untimed run of each: fills the file cache and checks that importing opens no connection.
        await Promise.all([runOnce(outfile, env, true), runOnce(unbundled, env, true)]).then((checks) => {
          const opened = checks.reduce((total, check) => total + check.connections, 0);
          if (opened > 0) throw new Error(`importing it opened ${opened} connection(s)`);
        });
      } catch (error) {
        skipped.push(`${name} (${(error as Error).message})`);
        continue;
      }
      const bundled: Sample[] = [];
      const bundledWithMaps: Sample[] = [];
      const plain: Sample[] = [];
      const mapsEnv = { ...env, NODE_OPTIONS: '--enable-source-maps' };
      for (let run = 0; run < RUNS; run++) {
        // One process at a time, as a Lambda sandbox runs alone, the variants taking turns so
        // that both meet the same drift in the machine's load.
        bundled.push(await runOnce(outfile, env));
        plain.push(await runOnce(unbundled, env));
        if (run < WITH_MAPS_RUNS) bundledWithMaps.push(await runOnce(withMapsFile, mapsEnv));
      }
      const result: Measured = {
        name,
        bytes,
        bundled: summarize(bundled),
        bundledWithMaps: summarize(bundledWithMaps),
        unbundled: summarize(plain),
      };
      measured.push(result);
      progress(
        `cold start: ${name} ${(bytes / 1024).toFixed(0)} KiB, init ${result.bundled.ms.toFixed(0)} ms bundled ` +
          `vs ${result.unbundled.ms.toFixed(0)} ms unbundled (CPU ${result.bundled.cpuMs.toFixed(0)} vs ${result.unbundled.cpuMs.toFixed(0)} ms)`,
      );
    }

    const loadAfter = os.loadavg()[0]!;
    // Scratch builds only: bundles and source maps nobody reads after the timing.
    await rm(buildDir, { recursive: true, force: true });
    const rows: Row[] = measured.flatMap((m) => {
      const ratio = m.bundled.ms / m.unbundled.ms;
      const cpuRatio = m.bundled.cpuMs / m.unbundled.cpuMs;
      const targeted = TARGETED.has(m.name);
      return [
        {
          section: 'Cold start',
          case: m.name,
          metric: 'Bundle (minified)',
          value: `${(m.bytes / 1024).toFixed(0)} KiB (${m.bytes.toLocaleString('en-US')} B)`,
          data: { bytes: m.bytes },
        },
        {
          section: 'Cold start',
          case: m.name,
          metric: `Init, median of ${m.bundled.runs}`,
          value:
            `${m.bundled.ms.toFixed(0)} ms bundled vs ${m.unbundled.ms.toFixed(0)} ms unbundled: ${ratio.toFixed(2)}× ` +
            `(CPU ${m.bundled.cpuMs.toFixed(0)} vs ${m.unbundled.cpuMs.toFixed(0)} ms: ${cpuRatio.toFixed(2)}×; ` +
            `${m.bundledWithMaps.ms.toFixed(0)} ms, ${(m.bundledWithMaps.ms / m.unbundled.ms).toFixed(2)}×, with a source map and --enable-source-maps, median of ${m.bundledWithMaps.runs})`,
          ...(targeted ? { target: '< 1/3 of unbundled', pass: ratio < TARGET_RATIO } : {}),
          data: { ...m, ratio, cpuRatio },
        },
      ];
    });
    return {
      rows,
      notes: [
        'Cold start: init = time to `import()` the handler module (which builds the handler) in a fresh Node process, ' +
          `median of ${RUNS}, one process at a time, the variants taking turns; bundled as deployed (esbuild options of cdk/constructs/function.ts ` +
          'and cdk/bundling.ts: AWS SDK bundled with only its environment credential provider, no source maps; the side figure adds a map without sources content and NODE_OPTIONS=--enable-source-maps); unbundled = the same sources compiled file by file ' +
          `(esbuild, no bundling) importing packages from node_modules. Measured on this machine's Node ${process.version}; Lambda runs nodejs22.x, ` +
          "and its init also includes the runtime's own start, which neither figure contains. " +
          `Load average while measuring: ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end, on ${os.cpus().length} cores` +
          (Math.max(loadBefore, loadAfter) > os.cpus().length
            ? ': the machine was shared, so wall times include waiting for a core; CPU times are the steadier comparison.'
            : '.'),
        ...(skipped.length > 0 ? [`Cold start: not measured: ${skipped.join('; ')}.`] : []),
      ],
      details: { measured, skipped, loadAverage: { before: loadBefore, after: loadAfter } },
    };
  },
};

export default coldStart;
