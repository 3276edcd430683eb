import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { header } from './request.js';

/**
 * The address a request came from, as the per-client signup limit counts it: the connection's
 * (`requestContext.http.sourceIp`, set by API Gateway, or by the local stand-in from the socket).
 * With `trustForwardedFor`, the entry a proxy in front of the API appended to `X-Forwarded-For`
 * instead: the last one before the connection's own address, which API Gateway appends. Entries
 * further left are whatever the client sent, so they are never used.
 */
export function clientAddress(event: APIGatewayProxyEventV2, trustForwardedFor: boolean): string {
  const sourceIp = event.requestContext.http.sourceIp;
  if (!trustForwardedFor) return sourceIp;
  const entries = (header(event, 'x-forwarded-for') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.at(-1) === sourceIp) entries.pop();
  return entries.at(-1) ?? sourceIp;
}
