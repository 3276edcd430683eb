import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { localLambdaContext } from '../../shared/adapters/local/lambda-runtime.js';

/** What API Gateway HTTP API (payload 2.0) sends, trimmed to what the handler reads. */
export function apiEvent(method: string, path: string, options: { body?: unknown; iamUser?: string; token?: string } = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    requestContext: {
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      ...(options.iamUser ? { authorizer: { iam: { userArn: options.iamUser, callerId: 'AIDAEXAMPLE' } } } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

/** A fresh context per invocation, as Lambda gives each its own deadline. */
export const context = () => localLambdaContext('dormouse-api', 'req-1', 30_000);

export const body = (response: { body?: string }) => JSON.parse(response.body ?? '{}');
