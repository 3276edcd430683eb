import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/domain/errors.js';
import type { LogSource, TenantLogs } from '../../shared/ports/tenant-logs.js';

/** One implementation of the TenantLogs port, with a way to make the tenant print. */
export interface TenantLogsSubject {
  logs: TenantLogs;
  source: LogSource;
  /** The tenant's task prints these lines at `at`. */
  print(messages: string[], at: Date): Promise<void>;
  close(): Promise<void>;
}

/** All the lines, read page after page by following `next` from `since`. */
async function follow(logs: TenantLogs, source: LogSource, since: string, limit: number): Promise<string[]> {
  let page = await logs.read(source, { since, limit });
  const messages = page.lines.map((line) => line.message);
  for (let round = 0; round < 20 && page.lines.length > 0; round++) {
    page = await logs.read(source, { limit, next: page.next! });
    messages.push(...page.lines.map((line) => line.message));
  }
  return messages;
}

/**
 * What the API (and `dormouse logs --follow`) relies on from TenantLogs, written once and run
 * against every implementation: the files of embedded mode and CloudWatch Logs (over a model).
 */
export function describeTenantLogsContract(name: string, setup: () => Promise<TenantLogsSubject>): void {
  describe(`TenantLogs contract: ${name}`, () => {
    let subject: TenantLogsSubject;
    const start = new Date(Date.now() - 10 * 60_000);
    const second = (n: number) => new Date(start.getTime() + n * 1000);

    beforeEach(async () => {
      subject = await setup();
    });

    afterEach(async () => {
      await subject.close();
    });

    it('serves the newest lines, oldest first, without a starting point', async () => {
      for (let n = 1; n <= 5; n++) await subject.print([`line ${n}`], second(n));

      const page = await subject.logs.read(subject.source, { limit: 2 });

      expect(page.lines.map((line) => [line.at, line.message])).toEqual([
        [second(4).toISOString(), 'line 4'],
        [second(5).toISOString(), 'line 5'],
      ]);
    });

    it('serves the lines from `since`, a page at a time, and every line once when following `next`', async () => {
      await subject.print(['before'], second(0));
      await subject.print(['one', 'two', 'three'], second(1));
      await subject.print(['four'], second(2));

      const first = await subject.logs.read(subject.source, { since: second(1).toISOString(), limit: 2 });
      await subject.print(['five', 'six'], second(3));
      const all = await follow(subject.logs, subject.source, second(1).toISOString(), 2);

      expect(first.lines.map((line) => line.message)).toEqual(['one', 'two']);
      expect(all).toEqual(['one', 'two', 'three', 'four', 'five', 'six']);
    });

    it('answers no lines after the newest, and the later ones once they are printed', async () => {
      await subject.print(['one'], second(1));
      const caughtUp = await subject.logs.read(subject.source, { since: second(1).toISOString(), limit: 10 });
      const nothing = await subject.logs.read(subject.source, { limit: 10, next: caughtUp.next! });

      await subject.print(['two'], second(1));
      const later = await subject.logs.read(subject.source, { limit: 10, next: nothing.next! });

      expect(nothing.lines).toEqual([]);
      expect(later.lines.map((line) => line.message)).toEqual(['two']);
    });

    it('refuses a `next` it did not hand out', async () => {
      await expect(subject.logs.read(subject.source, { limit: 10, next: 'made-up' })).rejects.toThrow(ValidationError);
    });
  });
}
