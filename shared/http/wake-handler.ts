import { STATUS_CODES } from 'node:http';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { wake, type WakeDeps } from '../app/wake.js';
import { prefersJson } from './request.js';
import { HSTS } from './responses.js';
import { PAGE_POLL_HEADER, renderWakePage, troubleAnswer, type RenderedPage, type WakePageOptions } from './wake-pages.js';

export type WakeHandler = (event: ALBEvent, context: Context) => Promise<ALBResult>;

export interface WakeHandlerOptions {
  /**
   * Tenants are served over HTTPS (the base URL is https): every answer tells browsers to
   * keep to HTTPS for the domain and its subdomains, the tenants' hosts. @default false
   */
  https?: boolean;
  /** The operator's branding and the self-service page's address, for the pages. */
  pages?: Pick<WakePageOptions, 'brand' | 'manageUrl'>;
}

/**
 * The ALB's catch-all for tenant hosts: every `*.<domain>` host without a rule of its own.
 * Never throws to the load balancer (which would answer a bare 502): anything unexpected
 * becomes a 503 "try again" page, with the details in the log only.
 */
export function createWakeHandler(deps: WakeDeps, logger: Logger, { https = false, pages = {} }: WakeHandlerOptions = {}): WakeHandler {
  const secure = (page: RenderedPage): RenderedPage =>
    https ? { ...page, headers: { ...page.headers, 'strict-transport-security': HSTS } } : page;
  return middy<ALBEvent, ALBResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        logger.error('Wake request failed', { error: request.error });
        request.response = toAlbResult(request.event, secure(renderWakePage(troubleAnswer(safeFormat(request.event)), pages)));
      },
    })
    .handler(async (event, context) => {
      const accept = header(event, 'accept');
      const answer = await wake(
        { ...deps, logger },
        {
          host: header(event, 'host'),
          acceptsJson: prefersJson(accept),
          hold: !isNavigation(accept) && !header(event, 'upgrade') && !header(event, PAGE_POLL_HEADER),
          // Room to answer before the function's own timeout, whatever the hold setting says.
          maxWaitMs: context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS,
        },
      );
      if (answer.tenant) logger.appendKeys({ tenantId: answer.tenant });
      logger.debug('Wake answered', { status: answer.status, kind: answer.kind, phase: answer.phase });
      return toAlbResult(event, secure(renderWakePage(answer, { ...pages, location: requestedPath(event) })));
    });
}

/** Kept free at the end of a held request's invocation to render and send the answer. */
const ANSWER_MARGIN_MS = 2_000;

/**
 * A browser navigation asks for HTML; anything else (API calls, webhooks, curl's `*\/*`) would rather be held until the tenant serves than read a page. Not
 * a WebSocket upgrade (which only the embedded gateway passes on; an ALB refuses it): its
 * client cannot follow a 307, so it gets the answer at once and retries after Retry-After. Nor
 * the waking page's own polls (PAGE_POLL_HEADER).
 */
export function isNavigation(accept: string | undefined): boolean {
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept ?? '');
}

/**
 * The path and query as the client sent them, for a relative `Location` (the client keeps its
 * scheme and host). The ALB passes query parameters as received, not decoded. A path starting
 * `//` or `/\` would read as another host (browsers take a backslash for a slash), and one with
 * a control character could once a browser drops it (as it does tabs): `/` instead.
 */
export function requestedPath(event: ALBEvent): string {
  const path = event.path && /^\/(?![/\\])/.test(event.path) && !/[\x00-\x1f\x7f]/.test(event.path) ? event.path : '/';
  const pairs = event.multiValueQueryStringParameters
    ? Object.entries(event.multiValueQueryStringParameters).flatMap(([name, values]) => (values ?? []).map((value) => [name, value]))
    : Object.entries(event.queryStringParameters ?? {});
  const query = pairs.map(([name, value]) => (value === '' ? name : `${name}=${value}`)).join('&');
  return query ? `${path}?${query}` : path;
}

/**
 * A request header. Names are lowercase in ALB events; with multi-value headers turned on for
 * the target group they arrive in `multiValueHeaders` instead.
 */
function header(event: ALBEvent, name: string): string | undefined {
  return event.headers?.[name] ?? event.multiValueHeaders?.[name]?.[0];
}

function safeFormat(event: ALBEvent | undefined): 'html' | 'json' {
  try {
    return event && prefersJson(header(event, 'accept')) ? 'json' : 'html';
  } catch {
    return 'html';
  }
}

/** The ALB wants a status description and, when the request came multi-valued, multi-valued headers. */
function toAlbResult(event: ALBEvent | undefined, page: RenderedPage): ALBResult {
  const statusDescription = `${page.statusCode} ${STATUS_CODES[page.statusCode] ?? ''}`.trim();
  // A HEAD answer carries the headers of the GET, not its body.
  const body = event?.httpMethod?.toUpperCase() === 'HEAD' ? '' : page.body;
  const headers = event?.multiValueHeaders
    ? { multiValueHeaders: Object.fromEntries(Object.entries(page.headers).map(([name, value]) => [name, [value]])) }
    : { headers: page.headers };
  return { statusCode: page.statusCode, statusDescription, ...headers, body, isBase64Encoded: false };
}
