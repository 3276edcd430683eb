import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ISecurityGroup, ISubnet, IVpc } from 'aws-cdk-lib/aws-ec2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, type FileSystem } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ESM_REQUIRE_SHIM, LAMBDA_ALIASES } from '../bundling.js';
import { limitEnvironmentSize } from '../environment-size.js';
import { acknowledge } from '../nag.js';

/** The repository root: Lambda entry points live in `lambdas/`, the lock file beside package.json. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface DormouseFunctionProps {
  /** File name in `lambdas/`, without extension: `api` for `lambdas/api.ts`. */
  readonly entry: string;
  readonly description: string;
  /** Powertools service name, also the logger's `service` key. */
  readonly serviceName: string;
  readonly logRetention: RetentionDays;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 256 MiB */
  readonly memorySize?: number;
  /** @default 'INFO' */
  readonly logLevel?: string;
  /** @default none: the function draws on the account's unreserved concurrency */
  readonly reservedConcurrentExecutions?: number;
  /** @default none: the function runs outside any VPC */
  readonly network?: { readonly vpc: IVpc; readonly subnets: ISubnet[]; readonly securityGroup: ISecurityGroup };
  /** A file system the function mounts; needs `network`. @default none */
  readonly filesystem?: FileSystem;
}

/**
 * One of Dormouse's Lambda functions: bundled locally by esbuild (no Docker), ESM, arm64, on
 * the current Node runtime, with its own log group and a role that may write only to it.
 * Everything else the function may do is granted by the construct that owns the resource.
 */
export function dormouseFunction(scope: Construct, id: string, props: DormouseFunctionProps): NodejsFunction {
  const logGroup = new LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    // Logs are diagnostics of this installation, not records to keep after it is removed.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // An explicit role rather than AWSLambdaBasicExecutionRole, whose log permissions span every log group.
  const role = new Role(scope, `${id}Role`, {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: `Dormouse ${props.entry} function`,
  });
  logGroup.grantWrite(role);
  if (props.network) {
    // Lambda leaves the execution role alone when it is given one, so the VPC policy is attached here.
    role.addManagedPolicy(ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
  }

  const fn = new NodejsFunction(scope, id, {
    entry: `${PROJECT_ROOT}lambdas/${props.entry}.ts`,
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
    description: props.description,
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    timeout: props.timeout ?? Duration.seconds(30),
    memorySize: props.memorySize ?? 256,
    ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
    role,
    logGroup,
    ...(props.network
      ? { vpc: props.network.vpc, vpcSubnets: { subnets: props.network.subnets }, securityGroups: [props.network.securityGroup] }
      : {}),
    ...(props.filesystem ? { filesystem: props.filesystem } : {}),
    environment: {
      POWERTOOLS_SERVICE_NAME: props.serviceName,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
    },
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      minify: true,
      // No source maps: with NODE_OPTIONS=--enable-source-maps, Node reads and parses them at
      // every cold start, which the API and wake functions' users wait through (see the README's
      // benchmarks). Errors are logged with their message and a stack into the minified bundle.
      sourceMap: false,
      // Prefer packages' ESM builds: they tree-shake better.
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_SHIM,
      // Relative to the project root, where CDK runs esbuild.
      esbuildArgs: { '--alias': Object.entries(LAMBDA_ALIASES).map(([module, file]) => `${module}=${file}`) },
      // Ship the SDK versions the tests ran against rather than whichever the runtime carries.
      bundleAwsSDK: true,
    },
  });
  limitEnvironmentSize(fn);
  acknowledge(
    fn,
    'AwsSolutions-L1',
    'Pinned to nodejs22.x, a supported LTS runtime that the code and its dependencies are tested on (the toolchain runs ' +
      'Node 20 and 22); moving to a newer runtime is a deliberate upgrade, not a side effect of a cdk-nag release.',
  );
  return fn;
}
