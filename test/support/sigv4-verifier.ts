import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for API Gateway's IAM authorizer on loopback: it recomputes each request's SigV4
 * signature from what arrived on the wire, with its own code (not the SDK's signer), refuses a
 * request whose signature does not match with 403, and hands the rest to `upstream` with the
 * `/admin` prefix removed, as the real API does.
 */
export interface SignedRequest {
  method: string;
  path: string;
  authorization?: string;
  signedHeaders?: string[];
  verdict: 'signed' | 'unsigned' | 'bad signature';
}

export async function startSigV4Verifier(options: {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region: string;
  upstream: (request: { method: string; path: string; body: string; signed: boolean }) => Promise<Response>;
}) {
  const seen: SignedRequest[] = [];
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const path = request.url ?? '/';
    const authorization = request.headers.authorization;
    const verdict =
      authorization === undefined ? 'unsigned' : verify(request, path, body, authorization, options) ? 'signed' : 'bad signature';
    seen.push({
      method: request.method ?? '',
      path,
      verdict,
      ...(authorization ? { authorization, signedHeaders: signedHeadersOf(authorization) } : {}),
    });
    const admin = path.startsWith('/admin/');
    if (verdict === 'bad signature' || (admin && verdict !== 'signed')) {
      response.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden' }));
      return;
    }
    const answer = await options.upstream({
      method: request.method ?? 'GET',
      path: admin ? path.slice('/admin'.length) : path,
      body,
      signed: admin,
    });
    response
      .writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' })
      .end(await answer.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function verify(
  request: IncomingMessage,
  path: string,
  body: string,
  authorization: string,
  { credentials, region }: { credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }; region: string },
): boolean {
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!match) return false;
  const [, accessKeyId, day, scopeRegion, service, signedHeaderList, signature] = match as unknown as string[];
  const amzDate = header(request, 'x-amz-date');
  if (accessKeyId !== credentials.accessKeyId || scopeRegion !== region || service !== 'execute-api') return false;
  if (!amzDate || !amzDate.startsWith(day!) || Math.abs(Date.now() - parseAmzDate(amzDate)) > 5 * 60_000) return false;
  const signedHeaders = signedHeaderList!.split(';');
  // What must be covered: the host, the time, and the session token when there is one.
  for (const required of ['host', 'x-amz-date', ...(credentials.sessionToken ? ['x-amz-security-token'] : [])]) {
    if (!signedHeaders.includes(required)) return false;
  }
  if (credentials.sessionToken && header(request, 'x-amz-security-token') !== credentials.sessionToken) return false;

  const [rawPath, rawQuery = ''] = path.split('?', 2) as [string, string?];
  const canonicalRequest = [
    request.method,
    // Every service but S3 encodes the already-encoded path once more.
    rawPath
      .split('/')
      .map((segment) => rfc3986(segment))
      .join('/'),
    canonicalQuery(rawQuery),
    signedHeaders.map((name) => `${name}:${(header(request, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join(''),
    signedHeaderList,
    sha256(body),
  ].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key: Buffer = Buffer.from(`AWS4${credentials.secretAccessKey}`);
  for (const part of [day!, region, service!, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex') === signature;
}

function canonicalQuery(raw: string): string {
  return raw
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('=', 2).map((part) => rfc3986(decodeURIComponent((part ?? '').replace(/\+/g, ' ')))) as [string, string?])
    .map(([name, value = '']) => [name, value] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function signedHeadersOf(authorization: string): string[] | undefined {
  return /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';');
}

function parseAmzDate(text: string): number {
  return Date.parse(
    `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}T${text.slice(9, 11)}:${text.slice(11, 13)}:${text.slice(13, 15)}Z`,
  );
}

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  request.setEncoding('utf8');
  for await (const chunk of request) body += chunk;
  return body;
}
