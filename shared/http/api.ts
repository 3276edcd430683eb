import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { ApiConfig } from '../config.js';
import { tenantUrl } from '../config.js';
import {
  CloudUnavailableError,
  ConflictError,
  DormouseError,
  NotFoundError,
  noSuchTenant,
  RateLimitedError,
  TenantCeilingError,
  VersionConflictError,
} from '../domain/errors.js';
import { costPrices } from '../domain/prices.js';
import { isValidSlug } from '../domain/slug.js';
import { publicView, reasonFor, type Audience, type Desired, type Tenant } from '../domain/tenant.js';
import { usageToDate } from '../domain/usage.js';
import { changeDesired } from '../app/change-desired.js';
import { changeTenant } from '../app/change-tenant.js';
import { retryTenant } from '../app/retry-tenant.js';
import { runsOlderPlan } from '../domain/tenant-changes.js';
import { signup, type SignupInput } from '../app/signup.js';
import { verifyEmail } from '../app/verify-email.js';
import { exportTenantData, restoreTenantData, restoreUploadLink } from '../app/tenant-data.js';
import type { Clock } from '../ports/clock.js';
import type { EmailSender } from '../ports/email.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { DataArchives } from '../ports/storage.js';
import type { PendingSignups, TenantStore } from '../ports/tenant-store.js';
import type { TenantLogs } from '../ports/tenant-logs.js';
import type { TimelineStore } from '../ports/timeline.js';
import { readTenantLogs } from '../app/tenant-logs.js';
import { timelineOf } from '../app/tenant-timeline.js';
import { timelineView } from '../domain/timeline.js';
import { clientAddress } from './client-address.js';
import { verifyPage } from './verify-page.js';
import { audienceOf, authorizeForTenant, identifyCaller, requireAdmin, requireCredential, type Caller } from './caller.js';
import { header, jsonBody, prefersJson } from './request.js';
import { HSTS, errorResponse, json, type HttpResponse } from './responses.js';
import { signupPageResponse } from './signup-page.js';
import { managePageResponse } from './manage-page.js';
import { PLANS_CACHE_CONTROL, publicPlanViews } from './plan-views.js';
import { idempotencyKey, listQuery, logsQuery, parseInput, signupBody, tenantChangesBody, uploadIdParam, verifyQuery } from './schemas.js';
import * as z from 'zod/mini';

export interface ApiDeps {
  store: TenantStore & PendingSignups;
  clock: Clock;
  config: ApiConfig;
  idempotencyStore: BasePersistenceLayer;
  logger: Logger;
  /**
   * Names the parts the API needs that are down, for `GET /healthz`. Embedded mode checks its
   * DynamoDB Local; on AWS it is absent, and the answer says nothing about what runs behind it.
   */
  health?: () => Promise<string[]>;
  /** Counts signups per source address. */
  limiter: RateLimiter;
  /** Sends confirmation links; required when `config.verifyEmail` is on. */
  emailSender?: EmailSender;
  /** Embedded mode only: the mail sent so far, served at GET /outbox. Never given on AWS. */
  outbox?: { response(acceptsJson: boolean): HttpResponse };
  /** Tenant data export and restore; absent when the installation keeps no tenant data. */
  archives?: DataArchives;
  /** Each tenant's transitions, served at `GET /tenants/{id}/events`. */
  timeline: TimelineStore;
  /** What tenants' tasks printed, served at `GET /tenants/{id}/logs`; absent when none is kept. */
  logs?: TenantLogs;
  /**
   * Embedded mode only: the operator console, served at GET /console (it asks for the admin
   * token itself). On AWS operators open it through `startConsoleServer`, which signs its calls.
   */
  consolePage?: HttpResponse;
}

interface RouteContext {
  event: APIGatewayProxyEventV2;
  caller: Caller;
  /** The tenant id from the path, already checked to be a well-formed slug. */
  id: string;
  /** The path's further parameters, decoded and not yet checked. */
  params: string[];
}

type Route = {
  method: string;
  pattern: RegExp;
  adminOnly?: boolean;
  run: (ctx: RouteContext) => Promise<HttpResponse>;
};

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResponse>;

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const { store, clock, config, logger } = deps;
  // Costs price running time at the rates of what the tasks run on (Graviton's are about 20 % lower).
  const prices = costPrices(config.taskArchitecture);
  const view = (tenant: Tenant, audience: Audience = 'anonymous') => {
    const planOutdated = runsOlderPlan(tenant, config.plans);
    return {
      ...publicView(tenant, tenantUrl(config.baseUrl, tenant.id), audience),
      ...(planOutdated !== undefined ? { planOutdated } : {}),
    };
  };
  /** What operators see of a tenant: the record without its secrets. */
  const adminView = (tenant: Tenant) => ({
    ...view(tenant, 'admin'),
    email: tenant.email,
    ...(tenant.spec.environment ? { environment: tenant.spec.environment } : {}),
    ...(tenant.spec.keepWarm ? { keepWarm: tenant.spec.keepWarm } : {}),
    status: { ...tenant.status, lastError: reasonFor(tenant.status, 'admin') },
  });

  const idempotency = new IdempotencyConfig({
    eventKeyJmesPath: 'idempotencyKey',
    // The same key with a different body is a client bug, not a retry: it is refused.
    payloadValidationJmesPath: 'input',
    expiresAfterSeconds: config.idempotencyTtlSeconds,
  });
  // A replay within the key's lifetime answers from the record: it is not counted against the
  // client's signup limit again and sends no second mail.
  const idempotentSignup = makeIdempotent(
    async (request: { idempotencyKey: string; input: SignupInput }, event: APIGatewayProxyEventV2) => signupResponse(request.input, event),
    { persistenceStore: deps.idempotencyStore, config: idempotency },
  );

  if (config.verifyEmail && !deps.emailSender) throw new Error('Email verification is on but no email sender was given.');
  const signupDeps = {
    store,
    clock,
    plans: config.plans,
    maxTenants: config.maxTenants,
    limiter: deps.limiter,
    signupsPerHour: config.signupsPerHour,
    ...(config.verifyEmail && deps.emailSender ? { verification: { sender: deps.emailSender } } : {}),
    logger,
  };

  async function signupResponse(input: SignupInput, event: APIGatewayProxyEventV2) {
    const origin = apiOrigin(event);
    const { tenant, token } = await signup(signupDeps, input, {
      clientAddress: clientAddress(event, config.trustForwardedFor),
      verifyUrl: (tenantId, code) => `${origin}/verify?${new URLSearchParams({ tenant: tenantId, code })}`,
    });
    logger.info('Tenant signed up', { tenantId: tenant.id, plan: tenant.spec.plan, phase: tenant.status.phase });
    const { id, url, phase, desired } = view(tenant);
    return { id, url, phase, desired, token };
  }

  async function verifyResponse(event: APIGatewayProxyEventV2): Promise<HttpResponse> {
    const parsed = z.safeParse(verifyQuery, event.queryStringParameters ?? {});
    const invalid = () =>
      verifyPage(
        400,
        'This link does not work',
        'The link is not valid, or it was already used. Copy the whole link from the mail, or sign up again.',
      );
    if (!parsed.success || !isValidSlug(parsed.data.tenant)) return invalid();
    const { tenant: tenantId, code } = parsed.data;
    logger.appendKeys({ tenantId });
    let result;
    try {
      result = await verifyEmail(
        { store, clock, plans: config.plans, maxTenants: config.maxTenants, limiter: deps.limiter },
        tenantId,
        code,
        clientAddress(event, config.trustForwardedFor),
      );
    } catch (error) {
      if (!(error instanceof TenantCeilingError)) throw error;
      return verifyPage(
        503,
        'No free trial right now',
        'Your address is confirmed, but all trial slots are taken. Open the same link again later: it keeps working until the signup expires.',
      );
    }
    switch (result.outcome) {
      case 'verified':
      case 'alreadyVerified': {
        const url = tenantUrl(config.baseUrl, result.tenant.id);
        if (result.outcome === 'verified') logger.info('Email confirmed; trial starting', { tenantId });
        return verifyPage(
          200,
          result.outcome === 'verified' ? 'Your trial is starting' : 'Already confirmed',
          `Thank you. Your trial "${result.tenant.id}" starts now and is served at ${url} within a minute or two.`,
          { href: url, text: `Open ${url}` },
        );
      }
      case 'expired':
        return verifyPage(
          410,
          'This link has expired',
          'Signups that are not confirmed within 24 hours are removed. Please sign up again.',
        );
      case 'rateLimited': {
        const page = verifyPage(
          429,
          'Too many tries',
          `Too many links were opened from your network. Try again in ${Math.ceil(result.retryAfterSeconds / 60)} minutes.`,
        );
        return { ...page, headers: { ...page.headers, 'retry-after': String(result.retryAfterSeconds) } };
      }
      case 'invalid':
        return invalid();
    }
  }

  async function loadTenant(id: string): Promise<Tenant> {
    const tenant = await store.get(id);
    if (!tenant) throw noSuchTenant(id);
    return tenant;
  }

  function command(desired: Desired): Route['run'] {
    return async ({ caller, id }) => {
      requireCredential(caller);
      const tenant = await changeDesired({ store }, id, desired, (current) => authorizeForTenant(caller, current));
      logger.info('Expected state changed', { tenantId: id, desired, generation: tenant.spec.generation });
      return json(202, view(tenant, audienceOf(caller, tenant)));
    };
  }

  const dataDeps = { store, clock, logger, limiter: deps.limiter, ...(deps.archives ? { archives: deps.archives } : {}) };

  const signupPage = signupPageResponse(config.baseUrl, config.brand);
  const managePage = managePageResponse(config.brand);
  // Tenants are served over HTTPS: the pages tell browsers to keep to it.
  for (const page of [signupPage, managePage]) {
    if (config.baseUrl.protocol === 'https:') page.headers = { ...page.headers, 'strict-transport-security': HSTS };
  }

  async function healthz(): Promise<HttpResponse> {
    const down = (await deps.health?.()) ?? [];
    return down.length === 0 ? json(200, { status: 'ok' }) : json(503, { status: 'unavailable', down }, { 'cache-control': 'no-store' });
  }

  const routes: Route[] = [
    { method: 'GET', pattern: /^\/$/, run: async () => ({ ...signupPage, headers: { ...signupPage.headers } }) },
    { method: 'GET', pattern: /^\/healthz$/, run: healthz },
    { method: 'GET', pattern: /^\/manage$/, run: async () => ({ ...managePage, headers: { ...managePage.headers } }) },
    { method: 'GET', pattern: /^\/verify$/, run: async ({ event }) => verifyResponse(event) },
    {
      method: 'GET',
      pattern: /^\/plans$/,
      run: async () => json(200, publicPlanViews(config.plans), { 'cache-control': PLANS_CACHE_CONTROL }),
    },
    ...(deps.consolePage
      ? [{ method: 'GET', pattern: /^\/console$/, run: async () => ({ ...deps.consolePage!, headers: { ...deps.consolePage!.headers } }) }]
      : []),
    ...(deps.outbox
      ? [
          {
            method: 'GET',
            pattern: /^\/outbox$/,
            run: async ({ event }: RouteContext) => deps.outbox!.response(prefersJson(header(event, 'accept'))),
          },
        ]
      : []),
    {
      method: 'POST',
      pattern: /^\/tenants$/,
      run: async ({ event }) => {
        const input = parseInput(signupBody, jsonBody(event), 'signup');
        const keyHeader = header(event, 'idempotency-key');
        if (keyHeader === undefined) {
          const body = await signupResponse(input, event);
          return json(202, body, { location: `/tenants/${body.id}` });
        }
        const key = parseInput(idempotencyKey, keyHeader, 'Idempotency-Key header');
        const body = await idempotentSignup({ idempotencyKey: key, input }, event);
        return json(202, body, { location: `/tenants/${body.id}` });
      },
    },
    {
      method: 'GET',
      pattern: /^\/tenants$/,
      adminOnly: true,
      run: async ({ event }) => {
        const query = parseInput(listQuery, event.queryStringParameters ?? {}, 'query');
        const page = await store.list(query);
        return json(200, {
          items: page.items.map((tenant) => ({ ...adminView(tenant), costToDate: usageToDate(tenant, clock.now(), prices).costToDate })),
          ...(page.cursor ? { cursor: page.cursor } : {}),
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/tenants\/([^/]+)$/,
      run: async ({ id, caller }) => {
        const tenant = await loadTenant(id);
        return json(200, view(tenant, audienceOf(caller, tenant)));
      },
    },
    {
      method: 'GET',
      pattern: /^\/tenants\/([^/]+)\/usage$/,
      run: async ({ id, caller }) => {
        requireCredential(caller);
        const tenant = await loadTenant(id);
        authorizeForTenant(caller, tenant);
        return json(200, usageToDate(tenant, clock.now(), prices));
      },
    },
    {
      method: 'GET',
      pattern: /^\/tenants\/([^/]+)\/events$/,
      run: async ({ id, caller }) => {
        requireCredential(caller);
        const tenant = await loadTenant(id);
        authorizeForTenant(caller, tenant);
        const audience = audienceOf(caller, tenant) === 'admin' ? 'admin' : 'owner';
        const entries = await timelineOf(deps.timeline, tenant);
        return json(200, { events: entries.map((entry) => timelineView(entry, audience)) }, { 'cache-control': 'no-store' });
      },
    },
    {
      method: 'GET',
      pattern: /^\/tenants\/([^/]+)\/logs$/,
      run: async ({ event, id, caller }) => {
        requireCredential(caller);
        const { since, next, limit } = parseInput(logsQuery, event.queryStringParameters ?? {}, 'query');
        const page = await readTenantLogs(
          { store, timeline: deps.timeline, ...(deps.logs ? { logs: deps.logs } : {}) },
          id,
          { limit, ...(since ? { since: new Date(since).toISOString() } : {}), ...(next ? { next } : {}) },
          (tenant) => authorizeForTenant(caller, tenant),
        );
        return json(200, page, { 'cache-control': 'no-store' });
      },
    },
    {
      method: 'PATCH',
      pattern: /^\/tenants\/([^/]+)$/,
      adminOnly: true,
      run: async ({ event, id }) => {
        const changes = parseInput(tenantChangesBody, jsonBody(event), 'change');
        const tenant = await changeTenant({ store, clock, plans: config.plans }, id, changes);
        logger.info('Tenant changed', {
          tenantId: id,
          fields: Object.keys(changes),
          plan: tenant.spec.plan,
          generation: tenant.spec.generation,
        });
        return json(200, adminView(tenant));
      },
    },
    { method: 'DELETE', pattern: /^\/tenants\/([^/]+)$/, run: command('deleted') },
    { method: 'POST', pattern: /^\/tenants\/([^/]+)\/passivate$/, run: command('passivated') },
    { method: 'POST', pattern: /^\/tenants\/([^/]+)\/wake$/, run: command('running') },
    {
      method: 'POST',
      pattern: /^\/tenants\/([^/]+)\/retry$/,
      run: async ({ caller, id }) => {
        requireCredential(caller);
        const tenant = await retryTenant({ store, clock, limiter: deps.limiter }, id, (current) => authorizeForTenant(caller, current));
        logger.info('Failed tenant retried', { tenantId: id, generation: tenant.spec.generation });
        return json(202, view(tenant, audienceOf(caller, tenant)));
      },
    },
    {
      method: 'POST',
      pattern: /^\/tenants\/([^/]+)\/export$/,
      run: async ({ caller, id }) => {
        requireCredential(caller);
        const link = await exportTenantData(dataDeps, id, (tenant) => authorizeForTenant(caller, tenant));
        return json(200, link);
      },
    },
    {
      method: 'POST',
      pattern: /^\/tenants\/([^/]+)\/restore$/,
      adminOnly: true,
      run: async ({ id }) => {
        const { url, expiresAt, uploadId } = await restoreUploadLink(dataDeps, id);
        return json(200, { uploadUrl: url, expiresAt, uploadId });
      },
    },
    {
      method: 'POST',
      pattern: /^\/tenants\/([^/]+)\/restore\/([^/]+)$/,
      adminOnly: true,
      run: async ({ id, params }) => {
        const uploadId = parseInput(uploadIdParam, params[0], 'uploadId');
        const restored = await restoreTenantData(dataDeps, id, uploadId);
        return json(200, { id, ...restored });
      },
    },
  ];

  async function route(event: APIGatewayProxyEventV2, context: Context): Promise<HttpResponse> {
    // An in-progress idempotency record must not outlive this invocation.
    idempotency.registerLambdaContext(context);
    // On AWS the admin copies of the routes live under /admin, behind the IAM authorizer.
    const rawPath = event.rawPath.replace(/\/+$/, '') || '/';
    const adminPrefixed = rawPath === '/admin' || rawPath.startsWith('/admin/');
    const path = adminPrefixed ? rawPath.slice('/admin'.length) || '/' : rawPath;
    const matching = routes.filter((candidate) => candidate.pattern.test(path));
    if (matching.length === 0) throw new NotFoundError(`There is no route ${path}.`);
    const method = event.requestContext.http.method.toUpperCase();
    const matched = matching.find((candidate) => candidate.method === method);
    if (!matched) {
      const allow = matching.map((candidate) => candidate.method).join(', ');
      return errorResponse(new DormouseError(`${method} is not allowed here; use ${allow}.`, { status: 405, code: 'method_not_allowed' }), {
        allow,
      });
    }
    const [, first = '', ...rest] = matched.pattern.exec(path) ?? [];
    const id = decodePathSegment(first);
    const params = rest.map((segment) => decodePathSegment(segment ?? ''));
    if (id) {
      logger.appendKeys({ tenantId: id });
      // Nothing that is not a valid slug can name a tenant; no need to ask the table.
      if (!isValidSlug(id)) throw noSuchTenant(id);
    }
    const caller = identifyCaller(event, config);
    if (matched.adminOnly || adminPrefixed) requireAdmin(caller);
    return matched.run({ event, caller, id, params });
  }

  return middy<APIGatewayProxyEventV2, HttpResponse>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        request.response = toErrorResponse(request.error, logger);
      },
    })
    .handler(route);
}

/**
 * Where this API was reached, for links back to it: API Gateway sets Host to the API's own
 * domain (it routes by it), and the local stand-in listens on loopback only.
 */
function apiOrigin(event: APIGatewayProxyEventV2): string {
  const proto = header(event, 'x-forwarded-proto') === 'http' ? 'http' : 'https';
  return `${proto}://${header(event, 'host') ?? event.requestContext.domainName}`;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // Malformed escapes cannot form a valid slug and are answered with 404.
  }
}

/** How long a caller is asked to wait when a cloud service behind a route is throttling or down. */
const CLOUD_RETRY_AFTER_SECONDS = 5;

/** The one place an exception becomes an HTTP answer. Unknown errors never leak details. */
function toErrorResponse(error: unknown, logger: Logger): HttpResponse {
  if (error instanceof RateLimitedError) {
    return errorResponse(error, { 'retry-after': String(error.retryAfterSeconds) });
  }
  if (error instanceof DormouseError && error.expose) {
    if (error.status >= 500) logger.error(error.message, { error });
    return errorResponse(error);
  }
  if (error instanceof IdempotencyValidationError) {
    return errorResponse(
      new DormouseError('This Idempotency-Key was already used with a different request body.', {
        status: 422,
        code: 'idempotency_key_reused',
      }),
    );
  }
  if (error instanceof IdempotencyAlreadyInProgressError) {
    return errorResponse(
      new ConflictError('A request with this Idempotency-Key is still in progress; retry shortly.', 'request_in_progress'),
      { 'retry-after': '1' },
    );
  }
  if (error instanceof VersionConflictError) {
    return errorResponse(new ConflictError('The tenant kept changing while we updated it; try again.', 'concurrent_update'));
  }
  if (error instanceof CloudUnavailableError) {
    // Throttling or an outage of a service behind the route (CloudWatch Logs, S3): worth a retry.
    logger.warn('A cloud service is unavailable', { error });
    return errorResponse(new DormouseError('This is busy right now; try again in a few seconds.', { status: 503, code: 'busy' }), {
      'retry-after': String(CLOUD_RETRY_AFTER_SECONDS),
    });
  }
  logger.error('Request failed', { error });
  return errorResponse(new DormouseError('Something went wrong on our side.', { status: 500, code: 'internal_error' }));
}
