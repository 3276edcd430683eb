import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { localLambdaContext } from './lambda-runtime.js';

export type AlbTargetHandler = (event: ALBEvent, context: Context) => Promise<ALBResult>;

/**
 * Calls a Lambda written for an ALB target (the wake handler) the way the ALB's default action
 * would, so the embedded gateway's fallback runs the same handler as AWS: headers lowercased,
 * multi-value headers off, the body left out (the wake function never reads one).
 */
export function albFallback(handler: AlbTargetHandler, { functionName = 'dormouse-wake' } = {}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const headers: Record<string, string> = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      headers[name] = name in headers ? `${headers[name]},${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1]!;
    }
    const event: ALBEvent = {
      requestContext: { elb: { targetGroupArn: `arn:aws:elasticloadbalancing:local:000000000000:targetgroup/${functionName}/local` } },
      httpMethod: req.method ?? 'GET',
      path: url.pathname,
      queryStringParameters: Object.fromEntries(url.searchParams),
      headers,
      body: '',
      isBase64Encoded: false,
    };
    const result = await handler(event, localLambdaContext(functionName, randomUUID(), 10_000));
    res.statusCode = result.statusCode;
    const reason = result.statusDescription?.replace(/^\d+\s*/, '');
    if (reason) res.statusMessage = reason;
    for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
    for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(name, values.map(String));
    const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
    res.setHeader('content-length', body.length);
    res.end(body);
  };
}
