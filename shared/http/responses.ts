import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { DormouseError } from '../domain/errors.js';

/**
 * Strict-Transport-Security for pages served over HTTPS: a year, for the host and every host
 * under it (the tenants' hosts under the root domain).
 */
export const HSTS = 'max-age=31536000; includeSubDomains';

export type HttpResponse = APIGatewayProxyStructuredResultV2 & { statusCode: number };

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  // Tenant state changes by the second and tokens appear in bodies: nothing may be cached.
  'cache-control': 'no-store',
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorResponse(error: DormouseError, headers: Record<string, string> = {}): HttpResponse {
  return json(
    error.status,
    { error: { code: error.code, message: error.message, ...(error.fields ? { fields: error.fields } : {}) } },
    headers,
  );
}
