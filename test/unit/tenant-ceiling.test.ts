import { describe, expect, it } from 'vitest';
import { CEILING_SHARES, shareOf, shareOrder } from '../../shared/adapters/aws/tenant-ceiling.js';

const shares = (room: number, count = CEILING_SHARES) => Array.from({ length: count }, (_, index) => shareOf(index, count, room));

describe('the tenant ceiling split over counter items', () => {
  it('gives the items shares that add up to exactly the room left', () => {
    for (const room of [0, 1, 2, 9, 10, 11, 137, 1_000, 999_999]) {
      expect(shares(room).reduce((sum, share) => sum + share, 0)).toBe(room);
    }
    expect(shares(137)).toEqual([14, 14, 14, 14, 14, 14, 14, 13, 13, 13]);
  });

  it('never shrinks a share when the room grows, so a stale (larger) legacy count only gives less', () => {
    for (let room = 0; room < 300; room++) {
      const now = shares(room);
      shares(room + 1).forEach((share, index) => expect(share).toBeGreaterThanOrEqual(now[index]!));
    }
  });

  it('gives no share when no room is left, even when the legacy count is above the ceiling', () => {
    expect(shares(-3)).toEqual(shares(0));
    expect(shareOrder(CEILING_SHARES, -3)).toEqual([]);
  });

  it('tries each item with a share once, starting from a random one', () => {
    expect(shareOrder(CEILING_SHARES, 137, () => 0.55)).toEqual([5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    expect(shareOrder(CEILING_SHARES, 3, () => 0.5)).toEqual([1, 2, 0]);
    expect(shareOrder(CEILING_SHARES, 3, () => 0)).toEqual([0, 1, 2]);
  });
});
