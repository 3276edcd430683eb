import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { confinedTo } from '../../shared/adapters/local/node-permissions.js';

/** Runs `script` under the confinement and reports what each file access did. */
function tryAccess(script: string, confinement: Parameters<typeof confinedTo>[0], scriptPath: string, env: Record<string, string>) {
  writeFileSync(scriptPath, script);
  const run = spawnSync(
    process.execPath,
    [...confinedTo({ ...confinement, readable: [...confinement.readable, scriptPath] }), scriptPath],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...env },
    },
  );
  return { results: JSON.parse(run.stdout) as Record<string, string>, stderr: run.stderr };
}

const PROBE = `
const fs = require('node:fs');
const attempt = (fn) => { try { fn(); return 'allowed'; } catch (error) { return error.code; } };
const [own, other] = [process.env.OWN, process.env.OTHER];
console.log(JSON.stringify({
  writeOwn: attempt(() => fs.writeFileSync(own + '/mine.txt', 'mine')),
  readOwn: attempt(() => fs.readFileSync(own + '/mine.txt', 'utf8')),
  readOther: attempt(() => fs.readFileSync(other + '/secret.txt', 'utf8')),
  listOther: attempt(() => fs.readdirSync(other)),
  writeOther: attempt(() => fs.writeFileSync(other + '/planted.txt', 'x')),
  readParent: attempt(() => fs.readdirSync(own + '/..')),
}));
`;

describe('confinedTo (Node permission model)', () => {
  it("lets a tenant's Node process use its own DATA_DIR and refuses another tenant's, and quietly", () => {
    // Prepare: two tenants' directories side by side, the other one holding a secret.
    const root = mkdtempSync(join(tmpdir(), 'dormouse-confined-'));
    const own = join(root, 'tenants', 'acme');
    const other = join(root, 'tenants', 'bravo');
    for (const dir of [own, other]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(other, 'secret.txt'), 'bravo only');

    // Act
    const { results, stderr } = tryAccess(PROBE, { readable: [], writable: [own] }, join(root, 'probe.cjs'), { OWN: own, OTHER: other });

    // Assess
    expect(results).toEqual({
      writeOwn: 'allowed',
      readOwn: 'allowed',
      readOther: 'ERR_ACCESS_DENIED',
      listOther: 'ERR_ACCESS_DENIED',
      writeOther: 'ERR_ACCESS_DENIED',
      readParent: 'ERR_ACCESS_DENIED',
    });
    expect(stderr).not.toMatch(/ExperimentalWarning/);
  });
});
