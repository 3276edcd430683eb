import { describe, expect, it } from 'vitest';
import { DynamoDbWakeTimes } from '../../shared/adapters/aws/dynamodb-wake-times.js';
import { WakeEstimate, medianSeconds } from '../../shared/app/wake-estimate.js';
import { createTestTables } from '../support/dynamodb.js';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, second)).toISOString();

describe('recent wake times', () => {
  it('keeps each wake once, the newest `keep` of them, oldest first', async () => {
    // Prepare
    const tables = await createTestTables();
    const times = new DynamoDbWakeTimes({ tableName: tables.tenantTable, client: tables.documentClient, keep: 3 });

    // Act: four wakes, the second recorded twice (two held requests saw it end).
    for (const [second, ms] of [
      [1, 4_000],
      [2, 5_000],
      [2, 5_000],
      [3, 6_000],
      [4, 7_000],
    ] as const) {
      await times.record({ wokenAt: at(second), ms });
    }

    // Assess
    expect(await times.recent()).toEqual([
      { wokenAt: at(2), ms: 5_000 },
      { wokenAt: at(3), ms: 6_000 },
      { wokenAt: at(4), ms: 7_000 },
    ]);
  });

  it('estimates from the median, reads at most once a minute, and reads again after recording', async () => {
    // Prepare
    const tables = await createTestTables();
    const times = new DynamoDbWakeTimes({ tableName: tables.tenantTable, client: tables.documentClient });
    let reads = 0;
    const counted = {
      recent: async () => (reads++, times.recent()),
      record: (wake: Parameters<typeof times.record>[0]) => times.record(wake),
    };
    const estimate = new WakeEstimate(counted);

    // Act / Assess
    expect(await estimate.seconds(0)).toBeUndefined();
    await estimate.record({ wokenAt: at(1), ms: 3_000 });
    await estimate.record({ wokenAt: at(2), ms: 40_000 });
    await estimate.record({ wokenAt: at(3), ms: 9_000 });
    // Longer than anyone waits at a page: not kept.
    await estimate.record({ wokenAt: at(4), ms: 3_600_000 });
    expect(await estimate.seconds(1_000)).toBe(9);
    expect(await estimate.seconds(59_000)).toBe(9);
    expect(reads).toBe(2);
    expect(await estimate.seconds(62_000)).toBe(9);
    expect(reads).toBe(3);
    expect(
      medianSeconds([
        { wokenAt: at(1), ms: 2_000 },
        { wokenAt: at(2), ms: 3_000 },
      ]),
    ).toBe(2.5);
  });
});
