import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(dir, file));
}

describe('the layer rules', () => {
  const fixture = mkdtempSync(join(tmpdir(), 'dormouse-layers-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  function write(file: string, text: string): void {
    mkdirSync(dirname(join(fixture, file)), { recursive: true });
    writeFileSync(join(fixture, file), text);
  }

  it('fail the cruise on a forbidden import, naming the rule', () => {
    write('tsconfig.json', readFileSync(join(root, 'tsconfig.json'), 'utf8'));
    write('shared/ports/compute.ts', 'export interface Compute { run(): void }\n');
    write('shared/domain/plan.ts', "import type { Compute } from '../ports/compute.js';\nexport type Uses = Compute;\n");
    write('lambdas/api.ts', 'export const handler = () => undefined;\n');
    write('shared/app/signup.ts', "import { handler } from '../../lambdas/api.js';\nexport const uses = handler;\n");
    write('shared/adapters/aws/names.ts', "export const name = 'dm';\n");
    write('shared/adapters/local/gateway.ts', "import { name } from '../aws/names.js';\nexport const uses = name;\n");

    const run = spawnSync(
      process.execPath,
      [
        join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
        'shared',
        'lambdas',
        '--config',
        join(root, '.dependency-cruiser.cjs'),
      ],
      {
        cwd: fixture,
        encoding: 'utf8',
      },
    );

    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain('domain-imports-only-domain: shared/domain/plan.ts → shared/ports/compute.ts');
    expect(run.stdout).toContain('nothing-imports-lambdas: shared/app/signup.ts → lambdas/api.ts');
    expect(run.stdout).toContain('local-adapters-do-not-import-aws: shared/adapters/local/gateway.ts → shared/adapters/aws/names.ts');
  });
});

describe('AWS error names', () => {
  /** An AWS exception name, or the SDK's status code, written anywhere in the code. */
  const AWS_ERROR = /\b[A-Z][A-Za-z]+Exception\b|httpStatusCode|\$metadata/;

  it('are read only by the AWS adapters: nothing above the adapters matches them', () => {
    const above = ['shared/app', 'shared/domain', 'shared/ports', 'shared/events', 'shared/http', 'lambdas'].flatMap(tsFiles);
    const found = above.flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .filter((line) => AWS_ERROR.test(line.replaceAll('ErrnoException', '')))
        .map((line) => `${file}: ${line.trim()}`),
    );

    expect(found).toEqual([]);
  });

  it('are not imitated by the local adapters, which throw domain errors instead', () => {
    // The SDK's own error classes, from DynamoDB Local, are real AWS errors; a quoted name is an imitation.
    const imitations = tsFiles('shared/adapters/local').flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .filter((line) => /['"`][A-Za-z]+Exception['"`]/.test(line))
        .map((line) => `${file}: ${line.trim()}`),
    );

    expect(imitations).toEqual([]);
  });
});
