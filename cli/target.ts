/**
 * Where the CLI sends its calls. `forward` takes a request whose path and query are the API's
 * (`/tenants/acme`, whatever its origin) and sends it to the target as an admin: with the admin
 * token locally, SigV4-signed under `/admin` on AWS. The console on loopback uses the same
 * function to forward its page's calls.
 */
export interface Target {
  /** How to name the target in messages. */
  name: string;
  /** What to do when the API refuses the credential (401/403). */
  authHint: string;
  forward(request: Request): Promise<Response>;
}

/** A request for `forward`: only its path and query matter, so the origin is a placeholder. */
export function apiRequest(method: string, pathAndQuery: string, body?: unknown, signal?: AbortSignal): Request {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Request(new URL(pathAndQuery, 'http://dormouse.invalid'), {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
  });
}
