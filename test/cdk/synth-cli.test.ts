import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROJECT_ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The environment of a machine with no AWS account at all: no credentials, no profile, no
 * instance metadata, nothing that would let the CLI look anything up or phone home.
 */
function offlineEnv(outdir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && !name.startsWith('CDK_')));
  // A `docker` that fails first on the PATH: synth must only stage the demo image, never build it.
  const noDocker = join(outdir, 'no-docker');
  mkdirSync(noDocker);
  writeFileSync(join(noDocker, 'docker'), '#!/bin/sh\necho "docker must not run at synth: $*" >&2\nexit 97\n', { mode: 0o755 });
  return {
    ...env,
    PATH: `${noDocker}${delimiter}${process.env.PATH ?? ''}`,
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(outdir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(outdir, 'no-aws-credentials'),
  };
}

describe('cdk synth', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'dormouse-synth-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('runs offline with cdk.json as it is: no lookups, no notices, no telemetry, and writes the template', async () => {
    // Act: throws, with the CLI's output, if the CLI exits non-zero.
    const { stderr } = await run('npx', ['cdk', 'synth', '--no-notices', '--quiet', '-o', join(outdir, 'cdk.out')], {
      cwd: PROJECT_ROOT,
      env: offlineEnv(outdir),
      maxBuffer: 32 * 1024 * 1024,
      timeout: 170_000,
    });

    // Assess
    const templatePath = join(outdir, 'cdk.out', 'Dormouse.template.json');
    expect(existsSync(templatePath)).toBe(true);
    const template = JSON.parse(readFileSync(templatePath, 'utf8'));
    expect(Object.values(template.Resources).map((r) => (r as { Type: string }).Type)).toEqual(
      expect.arrayContaining([
        'AWS::Pipes::Pipe',
        'AWS::ECS::Cluster',
        'AWS::ApiGatewayV2::Api',
        'AWS::DynamoDB::Table',
        'AWS::Scheduler::Schedule',
      ]),
    );
    // The demo image is staged for `cdk deploy` to build, not built.
    const assets = JSON.parse(readFileSync(join(outdir, 'cdk.out', 'Dormouse.assets.json'), 'utf8'));
    const [image] = Object.values(assets.dockerImages) as Array<{ source: { directory: string } }>;
    expect(readdirSync(join(outdir, 'cdk.out', image?.source.directory ?? 'missing'))).toContain('Dockerfile');
    const manifest = JSON.parse(readFileSync(join(outdir, 'cdk.out', 'manifest.json'), 'utf8'));
    expect(manifest.missing ?? []).toEqual([]);
    // The example settings have no certificate: the one expected warning is the demo-mode one.
    expect(stderr).not.toMatch(/\bERROR\b/);
    expect(stderr).not.toMatch(/^NOTICES|telemetry/im);
  }, 180_000);
});
