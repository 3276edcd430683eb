import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DormouseConfigError, parseDormouseConfig, tenantArchitecture } from '../../cdk/config.js';
import {
  CDK_JSON_CONTEXT,
  CERTIFICATE_ARN,
  functionId,
  onlyResource,
  pricedAt,
  resourcesOf,
  synthesize,
  taskArchitectures,
  type Synthesized,
} from './support.js';

/** cdk.json's example settings without an architecture: what an installation that says nothing gets. */
const { architecture: _unset, ...UNSAID } = CDK_JSON_CONTEXT.dormouse;
const ECR_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/app:1.4.2';

/** The platforms `cdk deploy` would build the stack's image assets for. */
function imageAssetPlatforms(synth: Synthesized): string[] {
  const manifest = readdirSync(synth.outdir).find((file) => file.endsWith('.assets.json'));
  const assets = JSON.parse(readFileSync(join(synth.outdir, manifest!), 'utf8')) as {
    dockerImages?: Record<string, { source: { platform?: string } }>;
  };
  return Object.values(assets.dockerImages ?? {}).map((image) => image.source.platform ?? 'none');
}

function sweepVariables(synth: Synthesized): Record<string, unknown> {
  const sweepId = functionId(synth.template, 'dormouse-sweep');
  return resourcesOf(synth.template, 'AWS::Lambda::Function')[sweepId]!.Properties.Environment.Variables;
}

describe('tenantArchitecture', () => {
  const architectureOf = (config: Record<string, unknown>) => tenantArchitecture(parseDormouseConfig(config));

  it('is arm64 when every tenant runs the demo app, which is built for either', () => {
    expect(architectureOf(UNSAID)).toBe('arm64');
  });

  it('stays x86_64 when the installation or a plan names an image, which synth cannot inspect', () => {
    expect(architectureOf({ ...UNSAID, image: ECR_IMAGE })).toBe('x86_64');
    expect(
      architectureOf({
        ...UNSAID,
        plans: [
          { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14, public: true },
          { name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', sleepAfterMinutes: 'never', image: ECR_IMAGE },
        ],
      }),
    ).toBe('x86_64');
  });

  it('is what the configuration says when it says', () => {
    expect(architectureOf({ ...UNSAID, image: ECR_IMAGE, architecture: 'arm64' })).toBe('arm64');
    expect(architectureOf({ ...UNSAID, architecture: 'x86_64' })).toBe('x86_64');
    expect(() => parseDormouseConfig({ ...UNSAID, architecture: 'aarch64' })).toThrow(DormouseConfigError);
    expect(() => parseDormouseConfig({ ...UNSAID, architecture: 'aarch64' })).toThrow('dormouse.architecture: must be "arm64" or "x86_64"');
  });
});

describe('an installation that names no architecture nor image', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesize(UNSAID);
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('runs its tenant tasks on arm64 and builds the demo image for linux/arm64', () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    expect(taskDefinition.Properties.RuntimePlatform).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    expect(imageAssetPlatforms(synth)).toEqual(['linux/arm64']);
  });

  it('tells the functions that price usage, and no other, that tasks run on arm64', () => {
    expect(taskArchitectures(synth)).toEqual(pricedAt('arm64'));
  });

  it('keeps Container Insights at cluster level and the sweep on requests only', () => {
    const [, cluster] = onlyResource(synth.template, 'AWS::ECS::Cluster');
    expect(cluster.Properties.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
    expect(sweepVariables(synth)).not.toHaveProperty('DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND');
  });
});

describe('an installation with its own image that counts task network traffic', () => {
  let synth: Synthesized;
  beforeAll(() => {
    // With a certificate, so that the HTTP-only demo mode's warning does not hide a finding.
    synth = synthesize({ ...UNSAID, certificateArn: CERTIFICATE_ARN, image: ECR_IMAGE, networkActivityBytesPerSecond: 256 });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('runs its tenant tasks on x86_64 and builds no image', () => {
    const [, taskDefinition] = onlyResource(synth.template, 'AWS::ECS::TaskDefinition');
    expect(taskDefinition.Properties.RuntimePlatform).toEqual({ CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' });
    expect(imageAssetPlatforms(synth)).toEqual([]);
  });

  it('tells the functions that price usage, and no other, that tasks run on x86_64', () => {
    expect(taskArchitectures(synth)).toEqual(pricedAt('x86_64'));
  });

  it('turns on enhanced observability, whose task metrics the sweep reads, and tells the sweep its threshold', () => {
    const [, cluster] = onlyResource(synth.template, 'AWS::ECS::Cluster');
    expect(cluster.Properties.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enhanced' }]);
    expect(sweepVariables(synth)).toMatchObject({ DORMOUSE_NETWORK_ACTIVITY_BYTES_PER_SECOND: '256' });
    expect(sweepVariables(synth)).toHaveProperty('DORMOUSE_CLUSTER');
  });

  it('needs no permission beyond GetMetricData, and leaves cdk-nag nothing unacknowledged', () => {
    const findings = synth.report.pluginReports.flatMap((report) => report.violations.map((v) => `${v.severity} ${v.ruleName}`));
    expect(findings).toEqual([]);
  });
});

describe('an installation one of whose plans names an image', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesize({
      ...UNSAID,
      plans: [
        { name: 'trial', cpu: 256, memory: 512, capacity: 'spot', sleepAfterMinutes: 15, trialDays: 14, public: true },
        { name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', sleepAfterMinutes: 'never', image: ECR_IMAGE },
      ],
    });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('runs every tenant task on x86_64, and tells the functions that price usage so', () => {
    const architectures = Object.values(resourcesOf(synth.template, 'AWS::ECS::TaskDefinition')).map(
      (taskDefinition) => taskDefinition.Properties.RuntimePlatform.CpuArchitecture,
    );
    expect(architectures).toEqual(['X86_64', 'X86_64']);
    expect(taskArchitectures(synth)).toEqual(pricedAt('x86_64'));
  });
});
