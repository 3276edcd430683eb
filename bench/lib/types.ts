import type { SharedDynamoDb } from './dynamodb.js';

/** One line of the combined table. `data` carries the raw figures for the JSON output. */
export interface Row {
  section: string;
  /** What was measured: a Lambda, a lifecycle step, a run. */
  case: string;
  metric: string;
  value: string;
  /** The target, in words, when there is one. */
  target?: string;
  /** Whether the target was met; absent when there is no target. */
  pass?: boolean;
  data?: Record<string, unknown>;
}

export interface SectionResult {
  rows: Row[];
  /** Assumptions and caveats a reader needs to trust the figures; printed under the table. */
  notes?: string[];
  /** Raw results for the JSON, beyond the rows. */
  details?: Record<string, unknown>;
}

export interface BenchContext {
  /** Repository root, with a trailing slash. */
  root: string;
  /** `bench/results/`: gitignored; scratch builds go in `bench/results/.build/`. */
  resultsDir: string;
  /** One DynamoDB Local for the whole run, started on first use. */
  dynamo(): Promise<SharedDynamoDb>;
  /** A progress line on stderr, so stdout stays the table. */
  progress(message: string): void;
  /** Results of the sections that ran before this one, by id (the cost model reads the lifecycle's). */
  earlier: ReadonlyMap<string, SectionResult>;
}

/**
 * A bench section: a module under `bench/sections/` whose default export is one of these.
 * It measures one thing, returns rows, and leaves nothing running.
 */
export interface Section {
  id: string;
  title: string;
  run(context: BenchContext): Promise<SectionResult>;
}
