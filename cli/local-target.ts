import { CliError, EXIT } from './errors.js';
import type { Target } from './target.js';

/**
 * Embedded mode (or any Dormouse API without IAM): admin calls carry the admin token as a
 * bearer token, on the same routes as everyone's.
 */
export function localTarget({
  apiUrl,
  adminToken,
  fetch = globalThis.fetch,
}: {
  apiUrl: string;
  adminToken: string | undefined;
  fetch?: typeof globalThis.fetch;
}): Target {
  const base = parseApiUrl(apiUrl);
  // The admin token opens every tenant: it crosses a network only inside TLS.
  if (base.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
    throw new CliError(
      `${base.origin} is plain HTTP off this machine: the admin token would cross the network unencrypted. Use https:// (or --stack for AWS).`,
      EXIT.refused,
    );
  }
  return {
    name: base.origin,
    authHint: 'set DORMOUSE_ADMIN_TOKEN to the admin token the API was started with (npm start prints it)',
    async forward(request) {
      if (!adminToken)
        throw new CliError(
          'DORMOUSE_ADMIN_TOKEN is not set: export the admin token the API was started with (npm start prints it).',
          EXIT.denied,
        );
      const incoming = new URL(request.url);
      const url = joinPath(base, incoming.pathname, incoming.search);
      const headers = new Headers(request.headers);
      headers.set('authorization', `Bearer ${adminToken}`);
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text();
      return fetch(url, { method: request.method, headers, body, signal: request.signal });
    },
  };
}

/** The API's address as given with --api or by a stack output, checked to be an http(s) URL. */
export function parseApiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new CliError(`"${text}" is not a URL: give the API's address, e.g. --api http://127.0.0.1:3000.`, EXIT.usage, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`"${text}" is not an http(s) URL: give the API's address, e.g. --api http://127.0.0.1:3000.`, EXIT.usage);
  }
  return url;
}

/** `path` under the API's base path (an API may be served below a stage or a prefix). */
export function joinPath(base: URL, path: string, search = ''): URL {
  const url = new URL(base);
  url.pathname = base.pathname.replace(/\/+$/, '') + path;
  url.search = search;
  url.hash = '';
  return url;
}
