import { STATUS_CODES } from 'node:http';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { wake, type WakeDeps } from '../app/wake.js';
import { HSTS } from './responses.js';
import { renderWakePage, troubleAnswer, type RenderedPage } from './wake-pages.js';

export type WakeHandler = (event: ALBEvent, context: Context) => Promise<ALBResult>;

export interface WakeHandlerOptions {
  /**
   * Tenants are served over HTTPS (the base URL is https): every answer tells browsers to
   * keep to HTTPS for the domain and its subdomains, the tenants' hosts. @default false
   */
  https?: boolean;
}

/**
 * The ALB's catch-all for tenant hosts: every `*.<domain>` host without a rule of its own.
 * Never throws to the load balancer (which would answer a bare 502): anything unexpected
 * becomes a 503 "try again" page, with the details in the log only.
 */
export function createWakeHandler(deps: WakeDeps, logger: Logger, { https = false }: WakeHandlerOptions = {}): WakeHandler {
  const secure = (page: RenderedPage): RenderedPage =>
    https ? { ...page, headers: { ...page.headers, 'strict-transport-security': HSTS } } : page;
  return middy<ALBEvent, ALBResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        logger.error('Wake request failed', { error: request.error });
        request.response = toAlbResult(request.event, secure(renderWakePage(troubleAnswer(safeFormat(request.event)))));
      },
    })
    .handler(async (event) => {
      const answer = await wake({ ...deps, logger }, { host: header(event, 'host'), acceptsJson: prefersJson(header(event, 'accept')) });
      if (answer.tenant) logger.appendKeys({ tenantId: answer.tenant });
      logger.debug('Wake answered', { status: answer.status, kind: answer.kind, phase: answer.phase });
      return toAlbResult(event, secure(renderWakePage(answer)));
    });
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
