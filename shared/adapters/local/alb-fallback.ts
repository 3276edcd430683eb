import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { localLambdaContext } from './lambda-runtime.js';

export type AlbTargetHandler = (event: ALBEvent, context: Context) => Promise<ALBResult>;

/** What the default action is given of a request: all a gateway on another thread sends over. */
export interface FallbackRequest {
  method: string;
  /** The request target in origin form, a path and query (see `originForm`), as received. */
  url: string;
  rawHeaders: string[];
}

/**
 * Calls a Lambda written for an ALB target (the wake handler) the way the ALB's default action
 * would, so the embedded gateway's fallback runs the same handler as AWS: headers lowercased,
 * multi-value headers off, the query as received (not decoded), the body left out (the wake
 * function never reads one: a held request is sent on with 307, and its client sends the body
 * again). `timeoutMs` is the function's timeout, which a held request stays under.
 */
export function albInvoker(handler: AlbTargetHandler, { functionName = 'dormouse-wake', timeoutMs = 10_000 } = {}) {
  // Async, so that whatever a request holds ends as a rejection, never as a throw in the caller.
  return async (request: FallbackRequest): Promise<ALBResult> =>
    handler(albEvent(request, functionName), localLambdaContext(functionName, randomUUID(), timeoutMs));
}

/** The event for a request: the path and query as received, as the ALB passes them on. */
export function albEvent(request: FallbackRequest, functionName = 'dormouse-wake'): ALBEvent {
  const queryAt = request.url.indexOf('?');
  const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
  // Split on & and the first =, still percent-encoded.
  const query =
    queryAt === -1
      ? []
      : request.url
          .slice(queryAt + 1)
          .split('&')
          .filter(Boolean);
  const headers: Record<string, string> = {};
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    headers[name] = name in headers ? `${headers[name]},${raw[i + 1]}` : raw[i + 1]!;
  }
  return {
    requestContext: { elb: { targetGroupArn: `arn:aws:elasticloadbalancing:local:000000000000:targetgroup/${functionName}/local` } },
    httpMethod: request.method,
    path,
    queryStringParameters: Object.fromEntries(
      query.map((pair) => [pair.split('=', 1)[0]!, pair.slice(pair.indexOf('=') + 1 || pair.length)]),
    ),
    headers,
    body: '',
    isBase64Encoded: false,
  };
}

/** The function's answer as the ALB turns it into an HTTP response. */
export function sendAlbResult(res: ServerResponse, result: ALBResult): void {
  res.statusCode = result.statusCode;
  const reason = result.statusDescription?.replace(/^\d+\s*/, '');
  if (reason) res.statusMessage = reason;
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(name, values.map(String));
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  res.setHeader('content-length', body.length);
  res.end(body);
}
