import { CfnResource, Stack } from 'aws-cdk-lib';
import type { CfnFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';

/** Lambda refuses a function whose environment variables take more than 4 KB in all. */
export const LAMBDA_ENVIRONMENT_LIMIT = 4096;

/**
 * What a value CloudFormation fills in at deploy time (a name or an ARN) is counted as: the
 * longest ARN a function is told, a listener's, is about 130 characters with a stack name of
 * about 20.
 */
export const DEPLOY_TIME_VALUE_SIZE = 160;
/** What an id CloudFormation fills in is counted as: subnet ids, the longest, have 24 characters. */
export const DEPLOY_TIME_ID_SIZE = 32;
/** Resources whose reference (Ref, or GetAtt GroupId) is a short id rather than a name or an ARN. */
const ID_REFERENCES: Record<string, string> = {
  'AWS::EC2::Subnet': 'Ref',
  'AWS::EC2::VPC': 'Ref',
  'AWS::EC2::SecurityGroup': 'GroupId',
  'AWS::EFS::FileSystem': 'Ref',
};

/**
 * Load balancer attributes, counted at their longest rather than as any name or ARN: a name has
 * at most 32 characters and an id 16 hex digits, so a full name `app/<name>/<id>` has at most 53;
 * a DNS name `internal-<name>-<number>.<region>.elb.amazonaws.com.cn` at most about 90; a
 * canonical hosted zone id is an id.
 */
const LOAD_BALANCER_ATTRIBUTES: Record<string, number> = {
  LoadBalancerFullName: 53,
  DNSName: 96,
  CanonicalHostedZoneID: DEPLOY_TIME_ID_SIZE,
};

/**
 * Parts of an attribute picked with Fn::Select over Fn::Split, counted at their longest: a
 * listener ARN's fifth `/`-separated part is its id, 16 hex digits. Any other part counts as the
 * whole it was taken from.
 */
const SPLIT_PARTS: Record<string, number> = {
  'AWS::ElasticLoadBalancingV2::Listener Ref / 4': 16,
};

/**
 * The size of a function's environment as Lambda's API carries it, the variables as one JSON
 * object (so quotes in a value count twice, escaped): the stricter of the ways to read "4 KB in
 * all". Values CloudFormation fills in count as DEPLOY_TIME_ID_SIZE (ids) or DEPLOY_TIME_VALUE_SIZE (names, ARNs).
 */
export function environmentSize(fn: LambdaFunction): { total: number; byName: Record<string, number> } {
  const cfn = fn.node.defaultChild as CfnFunction;
  const resolved = Stack.of(fn).resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
  const stack = Stack.of(fn);
  const types = new Map<string, string>();
  for (const construct of stack.node.findAll()) {
    if (CfnResource.isCfnResource(construct)) types.set(stack.resolve(construct.logicalId) as string, construct.cfnResourceType);
  }
  const byName: Record<string, number> = {};
  let total = 2; // the braces
  for (const [name, value] of Object.entries(resolved?.variables ?? {})) {
    byName[name] = estimatedLength(value, types);
    // "name":"value", and a comma between entries.
    total += Buffer.byteLength(JSON.stringify(name)) + 1 + byName[name] + 2 + (total > 2 ? 1 : 0);
  }
  return { total, byName };
}

/** The JSON-escaped length of a value, deploy-time parts counted as DEPLOY_TIME_ID_SIZE or DEPLOY_TIME_VALUE_SIZE. */
function estimatedLength(value: unknown, types: ReadonlyMap<string, string>): number {
  if (typeof value === 'string') return Buffer.byteLength(JSON.stringify(value)) - 2;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).length;
  const intrinsic = (value ?? {}) as {
    'Fn::Join'?: [string, unknown[]];
    'Fn::Select'?: [number | string, { 'Fn::Split'?: [string, unknown] }];
    Ref?: string;
    'Fn::GetAtt'?: [string, string];
  };
  const [index, list] = intrinsic['Fn::Select'] ?? [];
  const split = list?.['Fn::Split'];
  if (split) {
    const [delimiter, whole] = split;
    const source = whole as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    const [logicalId, attribute] = source.Ref ? [source.Ref, 'Ref'] : (source['Fn::GetAtt'] ?? []);
    return SPLIT_PARTS[`${types.get(logicalId ?? '')} ${attribute} ${delimiter} ${index}`] ?? estimatedLength(whole, types);
  }
  if (intrinsic['Fn::Join']) {
    const [delimiter, parts] = intrinsic['Fn::Join'];
    const sizes = parts.map((part) => estimatedLength(part, types));
    return sizes.reduce((sum, size) => sum + size, 0) + estimatedLength(delimiter, types) * Math.max(0, parts.length - 1);
  }
  const [logicalId, attribute] = intrinsic.Ref ? [intrinsic.Ref, 'Ref'] : (intrinsic['Fn::GetAtt'] ?? []);
  if (logicalId !== undefined && types.get(logicalId) === 'AWS::ElasticLoadBalancingV2::LoadBalancer') {
    const size = LOAD_BALANCER_ATTRIBUTES[attribute ?? ''];
    if (size !== undefined) return size;
  }
  const idReference = logicalId === undefined ? undefined : ID_REFERENCES[types.get(logicalId) ?? ''];
  return idReference !== undefined && idReference === attribute ? DEPLOY_TIME_ID_SIZE : DEPLOY_TIME_VALUE_SIZE;
}

/**
 * Fails the synth, rather than the deployment, when `fn`'s environment would not fit in Lambda's
 * 4 KB; the message names the largest variables, the plans first among what an operator controls.
 */
export function limitEnvironmentSize(fn: LambdaFunction): void {
  fn.node.addValidation({
    validate: () => {
      const { total, byName } = environmentSize(fn);
      if (total <= LAMBDA_ENVIRONMENT_LIMIT) return [];
      const largest = Object.entries(byName)
        .sort(([, a], [, b]) => b - a)
        .slice(0, 3)
        .map(([name, size]) => `${name} ${size}`)
        .join(', ');
      return [
        `The ${fn.node.id} function's environment would take about ${total} bytes, over Lambda's ${LAMBDA_ENVIRONMENT_LIMIT} ` +
          `(largest: ${largest}). Shorten dormouse.plans (their environments, keep-warm hours, names) or dormouse.adminPrincipals, ` +
          'or use fewer dormouse.shards (each adds the end of its listener ARN).',
      ];
    },
  });
}
