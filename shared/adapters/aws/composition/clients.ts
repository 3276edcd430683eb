import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { EFSClient } from '@aws-sdk/client-efs';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { Route53Client } from '@aws-sdk/client-route-53';
import { WakeEstimate } from '../../../app/wake-estimate.js';
import { documentClientFor, DynamoDbTenantStore } from '../dynamodb-tenant-store.js';
import { DynamoDbWakeTimes } from '../dynamodb-wake-times.js';

/**
 * The AWS composition root: one module per function, named as its entry point in lambdas/,
 * wiring its use case to the AWS adapters from its loaded configuration. One module each, so
 * that every function's bundle carries only the adapters it uses (the API's idempotency
 * library, for one, would otherwise load at every cold start of the wake function).
 *
 * The entry points call these at cold start, so the clients' connections serve every invocation
 * that follows; tests and the bench pass their own clients. Each client defaults to the SDK's
 * standard configuration, which honours AWS_ENDPOINT_URL(_*).
 */
export interface AwsClients {
  dynamoClient?: DynamoDBClient;
  ecsClient?: ECSClient;
  elbClient?: ElasticLoadBalancingV2Client;
  cloudWatchClient?: CloudWatchClient;
  eventBridgeClient?: EventBridgeClient;
  efsClient?: EFSClient;
  lambdaClient?: LambdaClient;
  route53Client?: Route53Client;
}

export function tenantStore(tableName: string, dynamoClient = new DynamoDBClient({})): DynamoDbTenantStore {
  return new DynamoDbTenantStore({ tableName, client: documentClientFor(dynamoClient) });
}

/** The recent wake durations (one item of the tenant table): the wake function reads them, the reconciler records each wake it ends. */
export function wakeEstimate(tableName: string, dynamoClient = new DynamoDBClient({})): WakeEstimate {
  return new WakeEstimate(new DynamoDbWakeTimes({ tableName, client: documentClientFor(dynamoClient) }));
}
