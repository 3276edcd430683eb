import * as z from 'zod/mini';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { apiRequest, type Target } from './target.js';

/** A tenant as `GET /tenants/{id}` and the commands answer it (fields the CLI shows or waits on). */
export interface TenantView {
  id: string;
  url: string;
  phase: string;
  desired: string;
  generation: number;
  observedGeneration: number;
  plan?: string;
  createdAt?: string;
  trialEndsAt?: string;
  lastActiveAt?: string;
  reason?: string;
  shard?: number;
  token?: string;
  email?: string;
  costToDate?: { amount: number; currency: string };
  [field: string]: unknown;
}

const timelineEvent = z.object({
  at: z.string(),
  phase: z.string(),
  desired: z.string(),
  reason: z.optional(z.string()),
  capacity: z.optional(z.string()),
  shard: z.optional(z.number()),
  plan: z.optional(z.string()),
});
export type TimelineEvent = z.infer<typeof timelineEvent>;
const eventsAnswer = z.object({ events: z.array(timelineEvent) });

const logLine = z.object({ at: z.string(), message: z.string(), stream: z.optional(z.string()) });
export type LogLine = z.infer<typeof logLine>;
const logsAnswer = z.object({ lines: z.array(logLine), next: z.optional(z.string()) });

/** API Gateway's own refusals (its IAM authorizer, throttling) are `{"message": …}`. */
const gatewayAnswer = z.object({ message: z.string() });

const errorAnswer = z.object({
  error: z.object({ code: z.string(), message: z.string(), fields: z.optional(z.record(z.string(), z.unknown())) }),
});

/** The admin API, one method per call the CLI makes. Errors come out as one-line CliErrors. */
export class ApiClient {
  constructor(readonly target: Target) {}

  async list(phase?: string): Promise<TenantView[]> {
    const tenants: TenantView[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ limit: '100', ...(phase ? { phase } : {}), ...(cursor ? { cursor } : {}) });
      const page = (await this.call('GET', `/tenants?${query}`)) as { items: TenantView[]; cursor?: string };
      tenants.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    return tenants;
  }

  async get(id: string): Promise<TenantView> {
    return (await this.call('GET', tenantPath(id))) as TenantView;
  }

  /** Undefined once the tenant is gone (404), for `delete --wait`. */
  async find(id: string): Promise<TenantView | undefined> {
    try {
      return await this.get(id);
    } catch (error) {
      if (error instanceof CliError && error.exitCode === EXIT.notFound) return undefined;
      throw error;
    }
  }

  async create(input: { slug: string; email: string; plan?: string }): Promise<TenantView> {
    return (await this.call('POST', '/tenants', input)) as TenantView;
  }

  async command(id: string, command: 'passivate' | 'wake' | 'delete'): Promise<TenantView> {
    if (command === 'delete') return (await this.call('DELETE', tenantPath(id))) as TenantView;
    return (await this.call('POST', `${tenantPath(id)}/${command}`)) as TenantView;
  }

  async change(id: string, changes: { plan?: string; trialEndsAt?: string }): Promise<TenantView> {
    return (await this.call('PATCH', tenantPath(id), changes)) as TenantView;
  }

  async events(id: string): Promise<TimelineEvent[]> {
    return parseAnswer(eventsAnswer, await this.call('GET', `${tenantPath(id)}/events`), 'events').events;
  }

  async logs(
    id: string,
    query: { since?: string; limit?: number; next?: string },
    signal?: AbortSignal,
  ): Promise<z.infer<typeof logsAnswer>> {
    const params = new URLSearchParams();
    if (query.next) params.set('next', query.next);
    else if (query.since) params.set('since', query.since);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const search = params.size > 0 ? `?${params}` : '';
    return parseAnswer(logsAnswer, await this.call('GET', `${tenantPath(id)}/logs${search}`, undefined, signal), 'logs');
  }

  private async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    let response: Response;
    try {
      response = await this.target.forward(apiRequest(method, path, body, signal));
    } catch (error) {
      if (error instanceof CliError || signal?.aborted) throw error;
      throw new CliError(
        `Cannot reach ${this.target.name} (${causeOf(error)}): is the API running, and is the address right?`,
        EXIT.unavailable,
        {
          cause: error,
        },
      );
    }
    const text = await response.text();
    const answer = parseJson(text);
    if (response.ok) {
      if (answer === undefined)
        throw new CliError(`${this.target.name} answered ${method} ${path} with something other than JSON.`, EXIT.failure);
      return answer;
    }
    throw this.failure(response.status, answer);
  }

  private failure(status: number, answer: unknown): CliError {
    const parsed = errorAnswer.safeParse(answer);
    const gateway = gatewayAnswer.safeParse(answer);
    const detail = parsed.success
      ? describeError(parsed.data.error)
      : gateway.success
        ? `${gateway.data.message} (HTTP ${status})`
        : `HTTP ${status}`;
    if (status === 401 || status === 403) return new CliError(`${detail}: ${this.target.authHint}.`, EXIT.denied);
    return new CliError(detail, exitCodeFor(status));
  }
}

function exitCodeFor(status: number): ExitCode {
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.unavailable;
  if (status >= 400) return EXIT.refused;
  return EXIT.failure;
}

/** `message (code)`, with the fields the API names and why, on one line. */
function describeError(error: z.infer<typeof errorAnswer>['error']): string {
  const message = error.message.replace(/\s+/g, ' ').replace(/[.\s]+$/, '');
  // The API's message often names the fields already; only those it leaves out are added.
  const fields = Object.entries(error.fields ?? {})
    .map(([name, why]) => [name, typeof why === 'string' ? why : JSON.stringify(why)] as const)
    .filter(([, why]) => !message.includes(why))
    .map(([name, why]) => `${name}: ${why}`);
  return `${message} (${error.code})${fields.length > 0 ? ` - ${fields.join('; ')}` : ''}`;
}

function tenantPath(id: string): string {
  return `/tenants/${encodeURIComponent(id)}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseAnswer<T>(schema: z.ZodMiniType<T>, answer: unknown, what: string): T {
  const parsed = schema.safeParse(answer);
  if (!parsed.success)
    throw new CliError(`The API's ${what} answer is not in the expected shape: is the CLI as new as the API?`, EXIT.failure);
  return parsed.data;
}

function causeOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error) return 'code' in cause && typeof cause.code === 'string' ? cause.code : cause.message;
  return String(error);
}
