import { CloudError, CloudRefusedError, CloudUnavailableError } from '../../domain/errors.js';

/**
 * The one place AWS error names and status codes are read. Everything above the AWS adapters
 * sees a `CloudUnavailableError` (retry later), a `CloudRefusedError` (a person must change
 * something), or, for errors the adapters handle or report themselves, the error as it was.
 */

/** Port methods, in words for the sentence a person reads, and the AWS call behind each. */
const OPERATIONS: Readonly<Record<string, { doing: string; call: string }>> = {
  runTask: { doing: 'start tasks', call: 'RunTask' },
  stopTask: { doing: 'stop tasks', call: 'StopTask' },
  tenantTasks: { doing: 'look up the tenant’s tasks', call: 'ListTasks/DescribeTasks' },
  allTenantTasks: { doing: 'list tasks', call: 'ListTasks/DescribeTasks' },
  ensureTargetGroup: { doing: 'create target groups', call: 'CreateTargetGroup' },
  findTargetGroup: { doing: 'look up target groups', call: 'DescribeTargetGroups' },
  targets: { doing: 'read target health', call: 'DescribeTargetHealth' },
  registerTarget: { doing: 'register targets', call: 'RegisterTargets' },
  deregisterTarget: { doing: 'deregister targets', call: 'DeregisterTargets' },
  deleteTargetGroup: { doing: 'delete target groups', call: 'DeleteTargetGroup' },
  findRule: { doing: 'look up listener rules', call: 'DescribeRules' },
  createRule: { doing: 'create listener rules', call: 'CreateRule' },
  deleteRule: { doing: 'delete listener rules', call: 'DeleteRule' },
  managedTargetGroups: { doing: 'list target groups', call: 'DescribeTargetGroups' },
  managedRules: { doing: 'list listener rules', call: 'DescribeRules' },
  ensure: {
    doing: 'prepare the tenant’s data volume',
    call: 'CreateAccessPoint/DescribeAccessPoints/DescribeTaskDefinition/RegisterTaskDefinition',
  },
  remove: {
    doing: 'delete the tenant’s data',
    call: 'Invoke (data cleaner)/DeleteAccessPoint/DeregisterTaskDefinition/DeleteTaskDefinitions',
  },
  managedTenants: { doing: 'list tenant data volumes', call: 'DescribeAccessPoints/ListTaskDefinitionFamilies' },
  exportData: { doing: 'export the tenant’s data', call: 'Invoke (data function)' },
  uploadLink: { doing: 'sign an upload link', call: 'PutObject (presigned)' },
  restoreData: { doing: 'restore the tenant’s data', call: 'HeadObject/Invoke (data function)' },
  read: { doing: 'read the tenant’s logs', call: 'FilterLogEvents' },
  ensureRecord: { doing: 'point the tenant’s DNS record at its load balancer', call: 'ListResourceRecordSets/ChangeResourceRecordSets' },
  removeRecord: { doing: 'remove the tenant’s DNS record', call: 'ListResourceRecordSets/ChangeResourceRecordSets' },
};

/** IAM, or credentials that are not accepted: only a change of policy or role helps. */
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

/** The request itself is wrong for this account or installation: only a change of settings helps. */
const INVALID = new Set([
  'ValidationError',
  'ValidationException',
  'InvalidParameterException',
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'InvalidConfigurationRequest',
  'InvalidConfigurationRequestException',
  'ClientException',
  'ClusterNotFoundException',
  'PlatformUnknownException',
  'PlatformTaskDefinitionIncompatibilityException',
  'UnsupportedFeatureException',
  // EFS: the file system is missing or full of access points, or the request is malformed.
  'BadRequest',
  'FileSystemNotFound',
  'AccessPointLimitExceeded',
  'IncorrectFileSystemLifeCycleState',
  // Lambda: the data cleaner function is missing or refuses its input.
  'ResourceNotFoundException',
  'InvalidRequestContentException',
  'RequestTooLargeException',
  // Route 53: the zone is missing, or a change it cannot apply.
  'NoSuchHostedZone',
  'InvalidChangeBatch',
  'InvalidInput',
]);

const TRANSIENT_NAME =
  /Throttl|TooManyRequests|RequestLimitExceeded|SlowDown|ServiceUnavailable|InternalFailure|InternalError|ServerException|TimeoutError|RequestTimeout|PriorRequestNotComplete/i;
/** EFS and Lambda names for "not now": their server failing, or a resource busy for a moment. */
const TRANSIENT_NAMES = new Set(['InternalServerError', 'ServiceException', 'ResourceNotReadyException', 'ResourceConflictException']);
/** Node's socket errors: the network, not the request, failed. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);

interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Translates an error thrown by an AWS adapter method. `method` is the port method that threw,
 * which names what Dormouse was doing when AWS's message does not.
 */
export function translateAwsError(error: unknown, method: string): unknown {
  if (error instanceof CloudError || !(error instanceof Error)) return error;
  const { name = '', code, $metadata } = error as AwsErrorShape;
  const message = (error.message ?? '').replace(/\.$/, '');
  const status = $metadata?.httpStatusCode ?? 0;
  const operation = OPERATIONS[method] ?? { doing: `call ${method}`, call: method };
  if (DENIED.has(name)) {
    // AWS's message names the exact action ("is not authorized to perform: ecs:RunTask").
    const action = /not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(message)?.[1] ?? operation.call;
    return new CloudRefusedError(
      `Dormouse is not allowed to ${operation.doing} (${action} was denied); check the reconciler's IAM role (AWS said: ${name}: ${message}).`,
      operation.doing,
      name,
      { cause: error },
    );
  }
  if (INVALID.has(name)) {
    return new CloudRefusedError(
      `AWS refused the request to ${operation.doing} as invalid (${operation.call}); check the installation's settings (the task definition, subnets, security groups, load balancer; AWS said: ${name}: ${message}).`,
      operation.doing,
      name,
      { cause: error },
    );
  }
  if (
    TRANSIENT_NAME.test(name) ||
    TRANSIENT_NAMES.has(name) ||
    status >= 500 ||
    status === 429 ||
    (code !== undefined && NETWORK_CODES.has(code))
  ) {
    return new CloudUnavailableError(operation.doing, name || code || String(status), { cause: error });
  }
  return error;
}

/**
 * Wraps an AWS adapter so that every method's errors are translated on the way out. The
 * adapter's own handling (a group already gone, a priority taken) runs first, inside it, on
 * AWS's errors as they are.
 */
export function translatingAwsErrors<T extends object>(adapter: T): T {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          throw translateAwsError(error, property);
        }
      };
    },
  });
}
