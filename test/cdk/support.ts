import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations, type App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { DormouseConfigError, parseDormouseConfig } from '../../cdk/config.js';
import { createDormouseApp } from '../../cdk/dormouse-app.js';
import type { DormouseStack } from '../../cdk/dormouse-stack.js';

/** The context cdk.json gives the CLI: the feature flags and the example `dormouse` settings. */
export const CDK_JSON_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<
  string,
  unknown
> & { dormouse: Record<string, unknown> };

export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b';

/** cdk.json's example settings plus what a production install adds: a certificate and DNS. */
export const PRODUCTION_CONFIG = {
  ...CDK_JSON_CONTEXT.dormouse,
  certificateArn: CERTIFICATE_ARN,
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  hostedZoneName: 'example.com',
  alarmEmail: 'ops@example.com',
  adminPrincipals: ['arn:aws:iam::123456789012:role/DormouseAdmin', 'arn:aws:iam::123456789012:user/ops'],
};

export interface Synthesized {
  app: App;
  stack: DormouseStack;
  template: Template;
  outdir: string;
  /** Every acknowledged rule in the app, with its reason, keyed `<construct path> <rule id>`. */
  acknowledgements: Map<string, string>;
  /** The validation report CDK writes at synth (cdk-nag and CloudFormation checks). */
  report: ValidationReport;
  cleanup(): void;
}

export interface ValidationReport {
  pluginReports: Array<{
    pluginName: string;
    conclusion: string;
    violations: Array<{ ruleName: string; severity: string; description: string; violatingConstructs?: Array<{ constructPath: string }> }>;
  }>;
}

/**
 * Synthesizes the app as `cdk synth` does (same context, cdk-nag on), into a temporary
 * directory. Bundling the six functions takes a few seconds, so only tests about the
 * bundles ask for it.
 */
export function synthesize(config: Record<string, unknown>, { bundle = false }: { bundle?: boolean } = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'dormouse-cdk-'));
  const { app, stack } = createDormouseApp({
    outdir,
    context: { ...CDK_JSON_CONTEXT, dormouse: config, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  app.synth();
  const template = Template.fromStack(stack);
  const reportFile = join(outdir, 'validation-report.json');
  const report: ValidationReport = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : { pluginReports: [] };
  return {
    app,
    stack,
    template,
    outdir,
    acknowledgements: acknowledgementsIn(app),
    report,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

function acknowledgementsIn(root: IConstruct): Map<string, string> {
  const found = new Map<string, string>();
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.set(`${construct.node.path} ${id}`, reason);
      }
    }
  }
  return found;
}

export type CfnResource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };

/** The template's resources of one type, keyed by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, CfnResource> {
  return template.findResources(type) as Record<string, CfnResource>;
}

export function onlyResource(template: Template, type: string): [string, CfnResource] {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`Expected one ${type}, found ${entries.length}`);
  return entries[0] as [string, CfnResource];
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` points at. */
export function referencedId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref === 'string') return ref;
  const getAtt = (value as { 'Fn::GetAtt'?: unknown[] })['Fn::GetAtt'];
  return Array.isArray(getAtt) && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
}

/**
 * Attributes whose form a loader checks, with a stand-in of that form built from the logical id.
 * (`app/<name>/<id>` is how CloudFormation returns an ALB's LoadBalancerFullName.)
 */
const PLAUSIBLE_ATTRIBUTES: Record<string, (logicalId: string) => string> = {
  LoadBalancerFullName: (logicalId) => `app/${logicalId.slice(0, 32)}/50dc6c495c0c9188`,
};

/**
 * A Lambda environment as the function would see it, with CloudFormation references replaced
 * by stand-ins of the same shape (a Ref to X becomes "X", Fn::Join is joined).
 */
export function resolveForTest(value: unknown): string {
  return standIn(value, false);
}

/**
 * As `resolveForTest`, but attributes whose form a loader checks (PLAUSIBLE_ATTRIBUTES) get a
 * stand-in of that form: what a function's configuration loader would see once deployed.
 */
export function resolvePlausibly(value: unknown): string {
  return standIn(value, true);
}

/** What CloudFormation's pseudo parameters resolve to in a deployed stack, for values built from them (URLs, ARNs). */
const PLAUSIBLE_PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
};

function standIn(value: unknown, plausible: boolean): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] } | null)?.['Fn::GetAtt'];
  const attribute = plausible && getAtt ? PLAUSIBLE_ATTRIBUTES[getAtt[1]] : undefined;
  if (attribute && getAtt) return attribute(getAtt[0]);
  const id = referencedId(value);
  if (id) return (plausible && PLAUSIBLE_PSEUDO_PARAMETERS[id]) || id;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map((item) => standIn(item, plausible)).join(join[0]);
  throw new Error(`Cannot stand in for ${JSON.stringify(value)}`);
}

export type PolicyStatementJson = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
};

/** Every identity-based statement in the template: role inline policies, policies, managed policies. */
export function identityStatements(template: Template): Array<{ policy: string; statement: PolicyStatementJson }> {
  const found: Array<{ policy: string; statement: PolicyStatementJson }> = [];
  for (const [id, policy] of Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement) found.push({ policy: id, statement });
  }
  for (const [id, policy] of Object.entries(resourcesOf(template, 'AWS::IAM::ManagedPolicy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement) found.push({ policy: id, statement });
  }
  for (const [id, role] of Object.entries(resourcesOf(template, 'AWS::IAM::Role'))) {
    for (const inline of role.Properties.Policies ?? []) {
      for (const statement of inline.PolicyDocument.Statement) found.push({ policy: `${id}/${inline.PolicyName}`, statement });
    }
  }
  return found;
}

/** The statements attached to the role a Lambda function runs as. */
export function functionStatements(template: Template, functionId: string): PolicyStatementJson[] {
  const fn = template.toJSON().Resources[functionId] as CfnResource;
  const roleId = referencedId(fn.Properties.Role);
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => referencedId(role) === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatementJson[]);
}

export const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The logical id of the function whose POWERTOOLS_SERVICE_NAME is `service`. */
export function functionId(template: Template, service: string): string {
  const match = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).find(
    ([, fn]) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === service,
  );
  if (!match) throw new Error(`No function for service ${service}`);
  return match[0];
}

/** The least `dormouse` context the CDK app accepts: a domain and two zones. */
export const MINIMAL_CONFIG = { domain: 'trials.example.com', availabilityZones: ['us-east-1a', 'us-east-1b'] };

/** The problems a configuration is refused with, or [] when it is accepted. */
export function configProblems(input: unknown): string[] {
  try {
    parseDormouseConfig(input);
    return [];
  } catch (error) {
    if (error instanceof DormouseConfigError) return error.problems;
    throw error;
  }
}

/** What each function is told of the tenant tasks' architecture, by service. */
export function taskArchitectures(synth: Synthesized): Record<string, unknown> {
  const functions = Object.values(resourcesOf(synth.template, 'AWS::Lambda::Function'));
  return Object.fromEntries(
    functions
      .map((fn) => fn.Properties.Environment?.Variables ?? {})
      .filter((variables) => variables.POWERTOOLS_SERVICE_NAME !== undefined)
      .map((variables) => [variables.POWERTOOLS_SERVICE_NAME, variables.DORMOUSE_TASK_ARCHITECTURE]),
  );
}

/** Only the functions that price tenants' running time are told it: the API (cost to date) and the stream publisher (`Tenant Usage`). */
export const pricedAt = (architecture: string) => ({
  'dormouse-api': architecture,
  'dormouse-stream-publisher': architecture,
  'dormouse-reconcile': undefined,
  'dormouse-sweep': undefined,
  'dormouse-task-events': undefined,
  'dormouse-wake': undefined,
});
