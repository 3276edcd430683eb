import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareDataDir } from '../../shared/adapters/local/data-dir.js';
import { StartError } from '../../shared/adapters/local/start-error.js';

describe('prepareDataDir', () => {
  const base = mkdtempSync(join(tmpdir(), 'dormouse-data-dir-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('makes the data directory readable by this user only, since its tables hold emails and token hashes', async () => {
    const dir = await prepareDataDir(join(base, 'nested', 'data'));

    expect(dir).toBe(join(base, 'nested', 'data'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('names the setting when the directory cannot be used', async () => {
    await expect(prepareDataDir('/proc/nope')).rejects.toBeInstanceOf(StartError);
    await expect(prepareDataDir('/proc/nope')).rejects.toThrow(/DORMOUSE_DATA_DIR/);
  });
});
