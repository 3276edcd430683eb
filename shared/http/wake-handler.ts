import { STATUS_CODES } from 'node:http';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { wake, type WakeDeps } from '../app/wake.js';
import { prefersJson } from './request.js';
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
