import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient, LogLine, TenantView } from './api-client.js';
import { CliError, EXIT } from './errors.js';
import { fields, json, money, printable, shortTime, table } from './output.js';

export interface Output {
  /** Results: a table, or JSON with --json. */
  stdout(text: string): void;
  /** Progress and errors, so that stdout stays parseable. */
  stderr(text: string): void;
}

export interface CommandContext {
  client: ApiClient;
  out: Output;
  json: boolean;
  /** How often --wait and --follow ask again. */
  pollMs: number;
  /** Ends --follow (Ctrl-C). */
  signal?: AbortSignal;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function list(ctx: CommandContext, phase?: string): Promise<void> {
  const tenants = await ctx.client.list(phase);
  if (ctx.json) return ctx.out.stdout(json(tenants));
  ctx.out.stdout(
    table(
      ['ID', 'PHASE', 'DESIRED', 'PLAN', 'SHARD', 'LAST ACTIVE', 'COST TO DATE'],
      tenants.map((tenant) => [
        tenant.id,
        tenant.phase,
        tenant.desired,
        tenant.plan ?? '-',
        String(tenant.shard ?? 0),
        shortTime(tenant.lastActiveAt),
        money(tenant.costToDate),
      ]),
    ),
  );
}

export async function get(ctx: CommandContext, id: string): Promise<void> {
  showTenant(ctx, await ctx.client.get(id));
}

export async function create(
  ctx: CommandContext,
  input: { slug: string; email: string; plan?: string },
  wait?: WaitOptions,
): Promise<void> {
  const created = await ctx.client.create(input);
  if (ctx.json) ctx.out.stdout(json(created));
  else {
    showTenant(ctx, created);
    ctx.out.stderr(`Keep the token: it is shown only once.\n`);
  }
  // The signup answer carries no generation: the tenant's first one is read back.
  if (wait) await waitUntilDone(ctx, created.id, { desired: 'running', generation: (await ctx.client.get(created.id)).generation }, wait);
}

export async function command(ctx: CommandContext, id: string, name: 'passivate' | 'wake' | 'delete', wait?: WaitOptions): Promise<void> {
  const changed = await ctx.client.command(id, name);
  if (!wait) return showTenant(ctx, changed);
  const done = await waitUntilDone(ctx, id, { desired: changed.desired, generation: changed.generation }, wait);
  if (done) showTenant(ctx, done);
  else if (ctx.json) ctx.out.stdout(json({ id, phase: 'Deleted' }));
}

export async function changePlan(ctx: CommandContext, id: string, plan: string): Promise<void> {
  showTenant(ctx, await ctx.client.change(id, { plan }));
}

/** Moves the trial's end `days` later, counted from its current end, or from now if that has passed. */
export async function extend(ctx: CommandContext, id: string, days: number, now = new Date()): Promise<void> {
  const tenant = await ctx.client.get(id);
  const currentEnd = tenant.trialEndsAt ? new Date(tenant.trialEndsAt).getTime() : now.getTime();
  const trialEndsAt = new Date(Math.max(currentEnd, now.getTime()) + days * DAY_MS).toISOString();
  showTenant(ctx, await ctx.client.change(id, { trialEndsAt }));
}

export async function events(ctx: CommandContext, id: string): Promise<void> {
  const timeline = await ctx.client.events(id);
  if (ctx.json) return ctx.out.stdout(json(timeline));
  ctx.out.stdout(
    table(
      ['AT', 'PHASE', 'DESIRED', 'CAPACITY', 'SHARD', 'PLAN', 'REASON'],
      timeline.map((event) => [
        shortTime(event.at),
        event.phase,
        event.desired,
        event.capacity ?? '-',
        event.shard === undefined ? '-' : String(event.shard),
        event.plan ?? '-',
        event.reason ?? '',
      ]),
    ),
  );
}

/**
 * Prints the tenant's recent log lines; with `follow`, keeps asking for newer ones (passing the
 * API's `next` token back) until Ctrl-C. `--json` prints one JSON object per line.
 */
export async function logs(ctx: CommandContext, id: string, options: { follow: boolean; since?: string; limit?: number }): Promise<void> {
  const print = (line: LogLine) =>
    ctx.out.stdout(ctx.json ? JSON.stringify(line) + '\n' : `${line.at}  ${(line.stream ?? '').padEnd(6)}  ${printable(line.message)}\n`);
  let query: { since?: string; limit?: number; next?: string } = { since: options.since, limit: options.limit };
  let last: { at: string; messages: Set<string> } | undefined;
  let waitingOut = false;
  for (;;) {
    let page;
    try {
      page = await ctx.client.logs(id, query, ctx.signal);
    } catch (error) {
      if (ctx.signal?.aborted) return;
      // Following, a busy or unreachable API is waited out, as `tail -F` waits out a missing file.
      if (!options.follow || !(error instanceof CliError) || error.exitCode !== EXIT.unavailable) throw error;
      if (!waitingOut) ctx.out.stderr(`${error.message}; trying again until it answers (Ctrl-C to stop)\n`);
      waitingOut = true;
      if (!(await pause(ctx))) return;
      continue;
    }
    waitingOut = false;
    for (const line of page.lines) {
      // Asked again from the last line's time (no `next`), the API repeats lines of that instant.
      if (last && (line.at < last.at || (line.at === last.at && last.messages.has(line.message)))) continue;
      print(line);
      if (last?.at !== line.at) last = { at: line.at, messages: new Set() };
      last.messages.add(line.message);
    }
    if (!options.follow) return;
    query = page.next ? { next: page.next, limit: options.limit } : { since: last?.at ?? options.since, limit: options.limit };
    if (!(await pause(ctx))) return;
  }
}

export interface WaitOptions {
  timeoutMs: number;
}

const TARGET_PHASE: Record<string, string> = { running: 'Running', passivated: 'Passivated', deleted: 'Deleted' };

/**
 * Follows the tenant until it reaches the phase its expected state asks for, printing each phase
 * it goes through. Returns the tenant, or undefined when a deleted tenant's record is gone.
 */
export async function waitUntilDone(
  ctx: CommandContext,
  id: string,
  goal: { desired: string; generation: number },
  { timeoutMs }: WaitOptions,
): Promise<TenantView | undefined> {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  let shown = '';
  for (;;) {
    const tenant = await ctx.client.find(id);
    if (!tenant) {
      if (goal.desired !== 'deleted') throw new CliError(`Tenant ${id} is gone: it was deleted while waiting.`, EXIT.notFound);
      ctx.out.stderr(`${id}: gone (${elapsed()})\n`);
      return undefined;
    }
    const reached = tenant.phase === TARGET_PHASE[goal.desired] && tenant.observedGeneration >= goal.generation;
    const step = `${tenant.phase}${tenant.reason ? ` - ${tenant.reason}` : ''}`;
    if (reached) {
      ctx.out.stderr(`${id}: ${printable(step)}, done (${elapsed()})\n`);
      return tenant;
    }
    if (step !== shown) ctx.out.stderr(`${id}: ${printable(step)}\n`);
    shown = step;
    if (tenant.phase === 'Failed' && tenant.observedGeneration >= goal.generation) {
      throw new CliError(
        `Tenant ${id} failed: ${tenant.reason ?? 'no reason recorded'}. See dormouse events ${id} and dormouse logs ${id}; dormouse wake ${id} retries.`,
        EXIT.tenantFailed,
      );
    }
    if (Date.now() - started > timeoutMs) {
      throw new CliError(
        `Tenant ${id} is still ${tenant.phase} after ${elapsed()}: see dormouse events ${id}, or wait longer with --timeout.`,
        EXIT.timedOut,
      );
    }
    if (!(await pause(ctx))) throw new CliError(`Stopped waiting for ${id}; the command itself was sent.`, EXIT.timedOut);
  }
}

function showTenant(ctx: CommandContext, tenant: TenantView): void {
  if (ctx.json) return ctx.out.stdout(json(tenant));
  ctx.out.stdout(
    fields([
      ['id', tenant.id],
      ['url', tenant.url],
      ['phase', tenant.phase],
      ['desired', tenant.desired],
      ['plan', tenant.plan],
      ['shard', tenant.shard],
      ['email', tenant.email],
      ['created', tenant.createdAt && shortTime(tenant.createdAt)],
      ['trial ends', tenant.trialEndsAt && shortTime(tenant.trialEndsAt)],
      ['last active', tenant.lastActiveAt && shortTime(tenant.lastActiveAt)],
      ['reason', tenant.reason],
      ['token', tenant.token],
    ]),
  );
}

/** Waits one poll interval; false when interrupted. */
async function pause(ctx: CommandContext): Promise<boolean> {
  try {
    await sleep(ctx.pollMs, undefined, ctx.signal ? { signal: ctx.signal } : {});
    return true;
  } catch {
    return false;
  }
}
