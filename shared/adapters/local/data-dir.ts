import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { StartError } from './start-error.js';

/**
 * Makes `dir` (relative to the working directory) ready to hold DynamoDB Local's files and returns
 * its absolute path: the JVM runs in another directory, so it must never see a relative one. An
 * unusable path fails at once, naming the setting. Directories are made one level at a time
 * because a recursive mkdir under /proc never returns on Node 20, and for this user only (0700):
 * the tables hold emails, token hashes and replayable signup answers.
 */
export async function prepareDataDir(dir: string, variable = 'DORMOUSE_DATA_DIR'): Promise<string> {
  const absolute = resolve(dir);
  try {
    await makeDirectory(absolute);
    if (!(await stat(absolute)).isDirectory()) throw new Error('it is not a directory');
    await access(absolute, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StartError(variable, `cannot keep data in ${absolute} (${reason}); choose a directory you can write to.`, { cause: error });
  }
  return absolute;
}

async function makeDirectory(path: string, mode = 0o700): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(path) === path) throw error;
    // Parents the user did not name are made as mkdir -p would.
    await makeDirectory(dirname(path), 0o777);
    await mkdir(path, { mode });
  }
}
