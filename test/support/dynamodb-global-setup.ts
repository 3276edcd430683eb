import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../shared/adapters/local/dynamodb-local.js';

/**
 * Starts one DynamoDB Local for the whole run on a free loopback port; each test file makes
 * its own uniquely named tables in it, so files can run in parallel without sharing state.
 */
export default async function setup(project: TestProject) {
  // Node 20 is supported by the SDK versions pinned here; the notice would repeat in every run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dynamo = await startDynamoDbLocal();
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
