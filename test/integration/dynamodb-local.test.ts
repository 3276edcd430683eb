import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDynamoDbLocal } from '../../shared/adapters/local/dynamodb-local.js';
import { waitFor } from '../support/local.js';

describe('startDynamoDbLocal', () => {
  it('runs the JVM with an absolute data path and no telemetry, and reports a kill it did not ask for', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dormouse-ddb-'));
    const exits: string[] = [];
    const dynamo = await startDynamoDbLocal({ dataDir, onUnexpectedExit: (how) => exits.push(how) });
    try {
      const args = readFileSync(`/proc/${dynamo.pid}/cmdline`, 'utf8').split('\0');
      expect(args[args.indexOf('-dbPath') + 1]).toBe(dataDir);
      expect(args).toContain('-disableTelemetry');

      process.kill(dynamo.pid, 'SIGKILL');
      await waitFor('the exit to be reported', () => exits.length > 0, 10_000);
      expect(exits).toEqual(['killed by SIGKILL']);
    } finally {
      await dynamo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says nothing when asked to stop', async () => {
    const exits: string[] = [];
    const dynamo = await startDynamoDbLocal({ onUnexpectedExit: (how) => exits.push(how) });
    await dynamo.stop();
    // A report comes with the exit or soon after: give one time not to come.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(exits).toEqual([]);
  });
});
