/**
 * `npm run bench`: runs the bench sections in order, prints one combined table (markdown) on
 * stdout, and writes it with the raw figures to bench/results/latest.{md,json}. Progress lines
 * go to stderr. `npm run bench -- lifecycle burst` runs only the sections named, and writes
 * bench/results/partial.{md,json} instead.
 *
 * A section is a module in bench/sections/ whose default export is a `Section` (lib/types.ts);
 * adding one is adding its file name to SECTIONS.
 *
 * Knobs, for trying things out (the defaults are what the table reports): BENCH_COLD_START_RUNS
 * (15), BENCH_BURST_SIGNUPS (1000), BENCH_BURST_QUEUED_SIGNUPS (300), BENCH_BURST_WAVES_SECONDS (150).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startSharedDynamoDb, stopAllDynamoDb, type SharedDynamoDb } from './lib/dynamodb.js';
import { renderMarkdown } from './lib/table.js';
import type { BenchContext, Section, SectionResult } from './lib/types.js';

// Embedded mode runs before the burst, whose thousands of reconciles would otherwise still load the machine.
const SECTIONS = ['cold-start', 'lifecycle', 'sweep-scale', 'embedded', 'burst', 'shards', 'cost-model'];

// Quiet, offline defaults for everything the sections build; set before any client or logger exists.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.env.AWS_REGION ??= 'us-east-1';

const root = fileURLToPath(new URL('../', import.meta.url));
const resultsDir = `${root}bench/results/`;

/** The commit measured, and whether the working tree differed from it. */
function revision(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', '.', ':!bench').length > 0;
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
}

function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !SECTIONS.includes(name));
  if (unknown.length > 0) throw new Error(`Unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  const selected = wanted.length > 0 ? SECTIONS.filter((name) => wanted.includes(name)) : SECTIONS;

  const started = performance.now();
  const progress = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
  let dynamo: Promise<SharedDynamoDb> | undefined;
  const earlier = new Map<string, SectionResult>();
  const context: BenchContext = {
    root,
    resultsDir,
    progress,
    earlier,
    dynamo: () => {
      if (!dynamo) {
        progress('starting DynamoDB Local');
        dynamo = startSharedDynamoDb();
      }
      return dynamo;
    },
  };

  // Ctrl-C or a timeout must not leave the DynamoDB Local JVM running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping`);
      void stopAllDynamoDb().finally(() => process.exit(130));
    });
  }

  const date = new Date();
  const results: Array<{ id: string; title: string; durationMs: number } & SectionResult> = [];
  try {
    for (const name of selected) {
      const section = ((await import(`./sections/${name}.js`)) as { default: Section }).default;
      progress(`${section.title}…`);
      const sectionStarted = performance.now();
      const result = await section.run(context);
      const durationMs = Math.round(performance.now() - sectionStarted);
      progress(`${section.title}: done in ${(durationMs / 1000).toFixed(1)} s`);
      earlier.set(section.id, result);
      results.push({ id: section.id, title: section.title, durationMs, ...result });
    }
  } finally {
    if (dynamo) await (await dynamo).stop();
    await stopAllDynamoDb();
  }

  const totalMs = Math.round(performance.now() - started);
  const host = machine();
  const commit = revision();
  const markdown = renderMarkdown({ date, machine: host, commit, totalMs, sections: results });
  process.stdout.write(`\n${markdown}\n`);
  // A run of some sections only does not replace the full table.
  const name = selected.length < SECTIONS.length ? 'partial' : 'latest';
  await mkdir(resultsDir, { recursive: true });
  await writeFile(`${resultsDir}${name}.md`, `${markdown}\n`);
  await writeFile(
    `${resultsDir}${name}.json`,
    `${JSON.stringify({ date: date.toISOString(), machine: host, commit, totalMs, sections: results }, null, 2)}\n`,
  );
  progress(`wrote bench/results/${name}.md and ${name}.json (${(totalMs / 1000).toFixed(1)} s in all)`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
