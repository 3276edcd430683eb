import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DormouseError, UnauthorizedError, ValidationError } from '../domain/errors.js';

/** Signup bodies are a few fields; anything larger is a mistake or an attack. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

export class PayloadTooLargeError extends DormouseError {
  constructor(limit: number) {
    super(`The request body is larger than ${limit} bytes.`, { status: 413, code: 'payload_too_large' });
    this.name = 'PayloadTooLargeError';
  }
}

export class UnsupportedMediaTypeError extends DormouseError {
  constructor() {
    super('Send the body as JSON with "Content-Type: application/json".', { status: 415, code: 'unsupported_media_type' });
    this.name = 'UnsupportedMediaTypeError';
  }
}

export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  return event.headers?.[name.toLowerCase()];
}

function isJsonMediaType(contentType: string | undefined): boolean {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json' || (mediaType?.endsWith('+json') ?? false);
}

/** The body as parsed JSON, after the size and media type checks API clients expect. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_JSON_BODY_BYTES) throw new PayloadTooLargeError(MAX_JSON_BODY_BYTES);
  if (!isJsonMediaType(header(event, 'content-type'))) throw new UnsupportedMediaTypeError();
  if (bytes.length === 0) throw new ValidationError('The request body is empty; send a JSON object.');
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ValidationError('The request body is not valid JSON.');
  }
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerToken(event: APIGatewayProxyEventV2): string | undefined {
  const value = header(event, 'authorization');
  if (value === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match?.[1]) throw new UnauthorizedError('The Authorization header must be "Bearer <token>".');
  return match[1];
}

/**
 * Whether the client asked for JSON over HTML. Browsers list `text/html` first and `*\/*`
 * last; API clients list `application/json`, often with `*\/*` after it. So JSON wins only
 * when named with a higher weight than `text/html` (a wildcard does not count as naming it).
 */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let json = 0;
  let html = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (!Number.isFinite(weight)) continue;
    if (type === 'application/json') json = Math.max(json, weight);
    else if (type === 'text/html') html = Math.max(html, weight);
  }
  return json > 0 && json > html;
}
