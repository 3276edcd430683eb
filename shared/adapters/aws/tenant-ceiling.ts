/**
 * The tenant ceiling without a hot spot. Every signup used to update one counter item in its
 * transaction, and DynamoDB cancels transactions that touch an item another transaction is
 * writing at that moment (TransactionConflict), so a burst of signups turned into conflicts.
 * The count is now split over CEILING_SHARES items, each allowed its share of the places:
 * the shares add up to the ceiling, so no interleaving of signups on different items can
 * admit more than the ceiling, yet two signups only collide when they pick the same item.
 *
 * Upgrades: a table made before the split holds one item, `counter#tenants`, counting the
 * tenants created before. It keeps counting them (their deletions decrement it) and nobody
 * increments it any more, so its count only goes down. The shares are computed from
 * `ceiling - legacy count`, read at signup: a read that is stale saw a larger count, so it
 * gives smaller shares, never larger ones. Each share only grows with the room left (see
 * `shareOf`), so every item's count stays within its share for the current legacy count, and
 * legacy count + the items' counts stays within the ceiling.
 *
 * "Nobody increments it" must hold even for code of the previous version still running
 * during a deploy, which checks only that item against the ceiling. So the first signup of
 * this version freezes the item: it adds LEGACY_FROZEN_OFFSET to its count in one update,
 * after which the old condition (`count < ceiling`) always fails, while old deletions still
 * decrement the real count underneath the offset.
 *
 * A ceiling that is raised stays exact the same way (shares only grow). One that is lowered
 * can leave an item above its new share while the others still fill theirs, so the live count
 * may pass the new ceiling by what the fuller items hold above their new shares (items fill
 * at random, so about evenly: a few places). With one item it could not.
 */

/**
 * Ten items: a burst spreads over ten times as many items as before, and a signup refused at
 * the ceiling costs at most ten attempts. The number is fixed rather than derived from the
 * ceiling because the sum must cover every item that may hold a count: changing it needs the
 * items' counts moved first.
 */
export const CEILING_SHARES = 10;

/** Far above any ceiling (at most a million), far below the 2^53 where numbers lose units. */
export const LEGACY_FROZEN_OFFSET = 1_000_000_000_000;

/**
 * The places item `index` may hold when `room` places are left for all the items: the room
 * split as evenly as it goes, the first `room % shares` items taking one more. Growing room
 * never shrinks a share, which is what makes a stale (larger) legacy count safe.
 */
export function shareOf(index: number, shares: number, room: number): number {
  if (room <= 0) return 0;
  return Math.floor(room / shares) + (index < room % shares ? 1 : 0);
}

/**
 * The items a signup tries, in order: a random one with a share first, so that concurrent
 * signups spread over the items, then the others that have a share, wrapping around.
 */
export function shareOrder(shares: number, room: number, random: () => number = Math.random): number[] {
  const withShare = Array.from({ length: shares }, (_, index) => index).filter((index) => shareOf(index, shares, room) > 0);
  const start = Math.floor(random() * withShare.length);
  return [...withShare.slice(start), ...withShare.slice(0, start)];
}
