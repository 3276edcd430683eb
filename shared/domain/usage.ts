import { planNamed, type PlanCatalog } from './plans.js';
import type { ObservedTask } from './task.js';
import type { CapacityProvider, Phase, Tenant } from './tenant.js';

/**
 * What a tenant has used: accumulated from its transitions, for billing integrators and the
 * cost to date. The meter rides on the writes that record the transitions (no write of its own),
 * so it is exactly as ordered and deduplicated as they are: a write is conditional on the version
 * it read, and a stale or repeated task event is not written at all.
 */
export interface Usage {
  /**
   * Seconds its tasks ran, by meter: capacity and size, e.g. `spot:256:512` (see `meterKey`).
   * Absent rather than empty: an empty map does not survive DynamoDB Streams as the SDK reads them.
   */
  runningSeconds?: Record<string, number>;
  /** Times it entered Waking. */
  wakes: number;
  /** Times it reached Passivated. */
  passivations: number;
  /** Persistent data kept over time, in GiB-hours, up to `meter.storage.since`. */
  storageGibHours?: number;
  /** What the meter last saw: the state it needs to count the next transition once. */
  meter?: MeterState;
  /** The last period announced as `Tenant Usage`. */
  reported?: UsageReport;
}

export interface MeterState {
  /** The phase last metered: a wake or a passivation counts when a write enters it. */
  phase?: Phase;
  /** The task being metered, since it was seen RUNNING. */
  running?: RunningTask;
  /**
   * Tasks the record let go of that still run (a replacement serves, the old task is stopping):
   * still billed, so still metered, each until it is seen STOPPED (at its `stoppedAt`) or gone.
   */
  outgoing?: RunningTask[];
  /** The last task whose time was counted: a late word about it counts nothing again. */
  counted?: string;
  /**
   * The tenant's data as last measured (when it went to sleep), and since when; `lowerBound` when
   * the measurement stopped at its bound (the data takes at least `bytes`).
   */
  storage?: { bytes: number; since: string; lowerBound?: true };
  /** ISO start of the hour of the last metered write. */
  hour?: string;
  /** The totals at the start of `hour`: what the hour is closed with once later writes have counted more. */
  atHour?: UsageTotals;
}

/** A task whose running time is being counted, on which meter, since when (ISO). */
export interface RunningTask {
  task: string;
  meter: string;
  since: string;
}

/** The totals a tenant's usage adds up to at some time: what a report and the cost are made of. */
export interface UsageTotals {
  /** Absent when nothing ran (see `Usage.runningSeconds`). */
  runningSeconds?: Record<string, number>;
  wakes: number;
  passivations: number;
  storageGibHours: number;
}

/** A period closed for `Tenant Usage`: the totals up to its end, from which the next report is the difference. */
export interface UsageReport {
  /** ISO start of the period (an hour). */
  period: string;
  /** ISO end of the period: everything metered up to here is reported. */
  until: string;
  totals: UsageTotals;
}

/** `Tenant Usage` periods: an hour (see the README for why not a day). */
export const USAGE_PERIOD_MS = 3_600_000;

const GIB = 1024 ** 3;
const HOUR_MS = 3_600_000;

export function emptyUsage(): Usage {
  return { wakes: 0, passivations: 0 };
}

/** A meter's name: capacity (`spot` or `on-demand`), then task CPU units and memory MiB. */
export function meterKey(capacityProvider: CapacityProvider, size: { cpu: number; memory: number } | undefined): string {
  const capacity = capacityProvider === 'FARGATE_SPOT' ? 'spot' : 'on-demand';
  return size ? `${capacity}:${size.cpu}:${size.memory}` : `${capacity}:unknown`;
}

/** A meter's capacity and size, read back from its name. */
export function parseMeterKey(key: string): { capacity: 'spot' | 'on-demand'; cpu?: number; memory?: number } {
  const [capacity, cpu, memory] = key.split(':');
  const size = Number(cpu) > 0 && Number(memory) > 0 ? { cpu: Number(cpu), memory: Number(memory) } : {};
  return { capacity: capacity === 'spot' ? 'spot' : 'on-demand', ...size };
}

/** Task statuses after RUNNING: the task no longer serves, and its running time ends. */
const PAST_RUNNING = new Set(['DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED']);

/**
 * The record about to be written, with its usage brought up to date: a pure function of the
 * record before the write and after it. Every writer copies the record it read and writes on
 * its version, so the usage the new record carries is still the stored one, and the meter state
 * in it says what the record was before: the running task, the phase. Returns `tenant` itself
 * when nothing is to be counted.
 *
 * - Running time opens when the recorded task is seen RUNNING (from its `startedAt` when
 *   known) and closes when it stops running (at its `stoppedAt` when known, else `now`, the
 *   observation time). A task the record lets go of while it still runs (replaced with no gap)
 *   is outgoing: counted on until it is observed STOPPED or gone. A task is counted once: a late
 *   or repeated word about a task already counted changes nothing, and a task first seen already
 *   stopped with both times known (a reordered event) is counted from them.
 * - A wake counts on entering Waking, a passivation on reaching Passivated.
 *
 * `observed` are all the tasks the writer has just seen (the reconciler's observation), where the
 * stop time of a task the record no longer names is found; undefined when the writer did not
 * look (then outgoing tasks are left as they are).
 */
export function meter(tenant: Tenant, now: Date, plans: PlanCatalog, observed?: ReadonlyArray<ObservedTask>): Tenant {
  const before = tenant.usage ?? emptyUsage();
  const state = before.meter ?? {};
  const runningSeconds = { ...before.runningSeconds };
  const next: MeterState = { ...state };
  const task = tenant.status.task;
  let outgoing = [...(state.outgoing ?? [])];

  const running = state.running;
  if (running) {
    const same = task?.arn === running.task;
    if (!same || PAST_RUNNING.has(task.lastStatus ?? '')) {
      const seen = same ? task : observed?.find((candidate) => candidate.arn === running.task);
      if (!same && (observed === undefined || (seen !== undefined && seen.lastStatus !== 'STOPPED'))) {
        // Replaced while it still runs (or not looked at): it runs, and is billed, until it stops.
        outgoing.push(running);
      } else {
        add(runningSeconds, running.meter, seconds(running.since, validTime(seen?.stoppedAt, running.since, now)));
      }
      next.running = undefined;
      next.counted = running.task;
    }
  }
  if (observed) {
    outgoing = outgoing.filter((leaving) => {
      const seen = observed.find((candidate) => candidate.arn === leaving.task);
      if (seen && seen.lastStatus !== 'STOPPED') return true;
      // Seen STOPPED, or gone from what the platform lists: its time ends.
      add(runningSeconds, leaving.meter, seconds(leaving.since, validTime(seen?.stoppedAt, leaving.since, now)));
      return false;
    });
  }
  next.outgoing = outgoing.length > 0 ? outgoing : undefined;
  if (task && !next.running && task.arn !== next.counted) {
    const key = meterKey(task.capacityProvider, sizeOf(tenant, plans));
    if (task.lastStatus === 'RUNNING') {
      next.running = { task: task.arn, meter: key, since: validTime(task.startedAt, undefined, now).toISOString() };
    } else if (PAST_RUNNING.has(task.lastStatus ?? '') && task.startedAt && task.stoppedAt) {
      // Seen only once it had stopped (its RUNNING event came late, or not at all).
      const since = validTime(task.startedAt, undefined, now);
      add(runningSeconds, key, seconds(since.toISOString(), validTime(task.stoppedAt, since.toISOString(), now)));
      next.counted = task.arn;
    }
  }

  const hour = periodEndBefore(now);
  if (state.hour !== hour.toISOString()) {
    // The first write of an hour: what was used before it began, for the report that closes the last one.
    next.hour = hour.toISOString();
    next.atHour = totalsAt(before, hour);
  }

  let { wakes, passivations } = before;
  const phase = tenant.status.phase;
  if (phase !== state.phase) {
    if (phase === 'Waking') wakes += 1;
    if (phase === 'Passivated') passivations += 1;
    next.phase = phase;
  }
  if (!next.running) delete next.running;
  if (!next.outgoing) delete next.outgoing;
  if (sameState(state, next) && tenant.usage) return tenant;
  const { runningSeconds: _counted, ...rest } = before;
  return { ...tenant, usage: { ...rest, ...ran(runningSeconds), wakes, passivations, meter: next } };
}

/**
 * An outgoing task (see `meter`) reported STOPPED by a task event: its running time ends at its
 * `stoppedAt`. Undefined when the event closes nothing (another task, not stopped, counted already).
 */
export function meterStoppedOutgoing(tenant: Tenant, task: ObservedTask, now: Date): Tenant | undefined {
  const usage = tenant.usage;
  const leaving = usage?.meter?.outgoing?.find((candidate) => candidate.task === task.arn);
  if (!usage || !leaving || task.lastStatus !== 'STOPPED') return undefined;
  const runningSeconds = { ...usage.runningSeconds };
  add(runningSeconds, leaving.meter, seconds(leaving.since, validTime(task.stoppedAt, leaving.since, now)));
  const outgoing = usage.meter!.outgoing!.filter((candidate) => candidate !== leaving);
  const { outgoing: _was, ...state } = usage.meter!;
  const meterState = outgoing.length > 0 ? { ...state, outgoing } : state;
  return { ...tenant, usage: { ...usage, runningSeconds, meter: meterState } };
}

/**
 * Records the tenant's data size as measured now: the time since the last measurement is
 * counted at the size measured then (data changes only while the tenant runs, and it is
 * measured each time it goes to sleep).
 */
export function measuredStorage(tenant: Tenant, { bytes, lowerBound }: { bytes: number; lowerBound?: true }, now: Date): Tenant {
  const usage = tenant.usage ?? emptyUsage();
  const storageGibHours = storageUpTo(usage, now);
  const meterState = { ...usage.meter, storage: { bytes, since: now.toISOString(), ...(lowerBound ? { lowerBound } : {}) } };
  return { ...tenant, usage: { ...usage, storageGibHours, meter: meterState } };
}

/** The totals at `at`: counted so far, plus the running task and the data up to `at`. */
export function totalsAt(usage: Usage | undefined, at: Date): UsageTotals {
  const current = usage ?? emptyUsage();
  const runningSeconds = { ...current.runningSeconds };
  for (const running of [current.meter?.running, ...(current.meter?.outgoing ?? [])]) {
    if (running) add(runningSeconds, running.meter, seconds(running.since, at));
  }
  return {
    ...ran(roundAll(runningSeconds)),
    wakes: current.wakes,
    passivations: current.passivations,
    storageGibHours: round(storageUpTo(current, at), 6),
  };
}

/** Counted, at rest, and not yet announced: the tenant stays in the sweep's index until it is. */
export function hasUnreportedUsage(tenant: Tenant): boolean {
  const usage = tenant.usage;
  if (!usage) return false;
  if (usage.meter?.running || usage.meter?.outgoing) return true;
  const reported = usage.reported?.totals ?? emptyTotals();
  const counted = { runningSeconds: usage.runningSeconds, wakes: usage.wakes, passivations: usage.passivations, storageGibHours: 0 };
  // More than reported, not merely different: a report that counted a task up to the end of its
  // hour, which had in fact stopped a moment before, is not waited on forever.
  return exceeds(counted, { ...reported, storageGibHours: 0 });
}

/** The end of the last whole period before `now`. */
export function periodEndBefore(now: Date): Date {
  return new Date(Math.floor(now.getTime() / USAGE_PERIOD_MS) * USAGE_PERIOD_MS);
}

/**
 * Closes the last whole period on the record when it used something since the previous report:
 * the stream publisher turns that write into `Tenant Usage` (the difference between the two
 * reports). Undefined when there is nothing to report, or it was reported already.
 */
export function closePeriod(tenant: Tenant, now: Date): Tenant | undefined {
  const usage = tenant.usage;
  if (!usage) return undefined;
  const end = periodEndBefore(now);
  const previous = usage.reported;
  if (previous && Date.parse(previous.until) >= end.getTime()) return undefined;
  // Never less than reported: a task reported running up to the end of the hour that in fact
  // stopped a little before it is not taken back in the next report.
  // Written to since the period ended: the totals as the hour after it began, not what came later.
  const state = usage.meter;
  const written = state?.hour !== undefined && state.atHour !== undefined && Date.parse(state.hour) >= end.getTime();
  const totals = atLeast(written ? state.atHour! : totalsAt(usage, end), previous?.totals ?? emptyTotals());
  const { storageGibHours: _storage, ...reportable } = totals;
  const { storageGibHours: _was, ...before } = previous?.totals ?? emptyTotals();
  // Data kept while it sleeps is reported with its next run, not every hour of its sleep.
  if (sameTotals({ ...reportable, storageGibHours: 0 }, { ...before, storageGibHours: 0 })) return undefined;
  const period = new Date(end.getTime() - USAGE_PERIOD_MS).toISOString();
  return { ...tenant, usage: { ...usage, reported: { period, until: end.toISOString(), totals } } };
}

/** What a report adds to the previous one. */
export function usageBetween(before: UsageTotals | undefined, after: UsageTotals): UsageTotals {
  const base = before ?? emptyTotals();
  const runningSeconds: Record<string, number> = {};
  for (const [key, value] of Object.entries(after.runningSeconds ?? {})) {
    const delta = round(value - (base.runningSeconds?.[key] ?? 0), 3);
    if (delta !== 0) runningSeconds[key] = delta;
  }
  return {
    ...ran(runningSeconds),
    wakes: after.wakes - base.wakes,
    passivations: after.passivations - base.passivations,
    storageGibHours: round(after.storageGibHours - base.storageGibHours, 6),
  };
}

/** The prices a cost is computed from (prices.ts). */
export interface CostPrices {
  region: string;
  currency: string;
  /** Each family says when its prices were written down: they are not all looked up at once. */
  fargate: { asOf: string; onDemand: FargateRate; spot: FargateRate };
  efs: { asOf: string; standardPerGbMonth: number };
}

interface FargateRate {
  perVcpuHour: number;
  perGbHour: number;
}

export interface Cost {
  amount: number;
  currency: string;
  /** When the prices were written down (year and month), by price family, and for which region. */
  pricesAsOf: PricesAsOf;
  region: string;
}

export interface PricesAsOf {
  /** Fargate per vCPU-hour and GB-hour, Spot and on-demand: the running time. */
  fargate: string;
  /** EFS Standard per GB-month: the data kept. */
  efs: string;
}

const HOURS_PER_MONTH = 730;

/**
 * What the totals cost at list prices: Fargate per vCPU-hour and GB-hour by capacity, and EFS
 * Standard per GB-month for the data. A meter of unknown size costs nothing rather than a guess.
 */
export function costOf(totals: UsageTotals, prices: CostPrices): Cost {
  let amount = 0;
  for (const [key, secondsRun] of Object.entries(totals.runningSeconds ?? {})) {
    const { capacity, cpu, memory } = parseMeterKey(key);
    if (cpu === undefined || memory === undefined) continue;
    const rate = capacity === 'spot' ? prices.fargate.spot : prices.fargate.onDemand;
    amount += (secondsRun / 3600) * ((cpu / 1024) * rate.perVcpuHour + (memory / 1024) * rate.perGbHour);
  }
  amount += (totals.storageGibHours / HOURS_PER_MONTH) * prices.efs.standardPerGbMonth;
  const pricesAsOf = { fargate: prices.fargate.asOf, efs: prices.efs.asOf };
  return { amount: round(amount, 6), currency: prices.currency, pricesAsOf, region: prices.region };
}

// ---- Helpers ----------------------------------------------------------------------------------

/**
 * The size the tenant's task runs at: as the platform reports it (a plan's size may have changed
 * since the task started), else its plan's (as the task says), else the tenant's plan now.
 */
function sizeOf(tenant: Tenant, plans: PlanCatalog): { cpu: number; memory: number } | undefined {
  const reported = tenant.status.task?.size;
  if (reported) return reported;
  const plan = planNamed(plans, tenant.status.task?.launchedAs?.plan ?? tenant.spec.plan);
  return plan ? { cpu: plan.cpu, memory: plan.memory } : undefined;
}

/** A reported time if it is readable and not before `notBefore` nor after `now`; else `now`. */
function validTime(value: string | undefined, notBefore: string | undefined, now: Date): Date {
  const time = value ? Date.parse(value) : NaN;
  if (Number.isNaN(time) || time > now.getTime()) return notBefore && Date.parse(notBefore) > now.getTime() ? new Date(notBefore) : now;
  if (notBefore && time < Date.parse(notBefore)) return new Date(notBefore);
  return new Date(time);
}

function seconds(since: string, until: Date): number {
  return Math.max(0, (until.getTime() - Date.parse(since)) / 1000);
}

function storageUpTo(usage: Usage, at: Date): number {
  const storage = usage.meter?.storage;
  const kept = usage.storageGibHours ?? 0;
  if (!storage) return kept;
  const hours = Math.max(0, at.getTime() - Date.parse(storage.since)) / HOUR_MS;
  return kept + (storage.bytes / GIB) * hours;
}

function add(totals: Record<string, number>, key: string, value: number): void {
  totals[key] = round((totals[key] ?? 0) + value, 3);
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, round(value, 3)]));
}

/** The running seconds as stored: absent when nothing ran. */
function ran(runningSeconds: Record<string, number>): { runningSeconds?: Record<string, number> } {
  return Object.keys(runningSeconds).length > 0 ? { runningSeconds } : {};
}

function emptyTotals(): UsageTotals {
  return { wakes: 0, passivations: 0, storageGibHours: 0 };
}

function atLeast(totals: UsageTotals, floor: UsageTotals): UsageTotals {
  const runningSeconds = { ...totals.runningSeconds };
  for (const [key, value] of Object.entries(floor.runningSeconds ?? {})) runningSeconds[key] = Math.max(runningSeconds[key] ?? 0, value);
  return {
    ...ran(runningSeconds),
    wakes: Math.max(totals.wakes, floor.wakes),
    passivations: Math.max(totals.passivations, floor.passivations),
    storageGibHours: Math.max(totals.storageGibHours, floor.storageGibHours),
  };
}

/** Whether `a` has more of anything than `b`. */
function exceeds(a: UsageTotals, b: UsageTotals): boolean {
  if (Object.entries(a.runningSeconds ?? {}).some(([key, value]) => value > (b.runningSeconds?.[key] ?? 0))) return true;
  return a.wakes > b.wakes || a.passivations > b.passivations || a.storageGibHours > b.storageGibHours;
}

function sameTotals(a: UsageTotals, b: UsageTotals): boolean {
  const keys = new Set([...Object.keys(a.runningSeconds ?? {}), ...Object.keys(b.runningSeconds ?? {})]);
  for (const key of keys) if ((a.runningSeconds?.[key] ?? 0) !== (b.runningSeconds?.[key] ?? 0)) return false;
  return a.wakes === b.wakes && a.passivations === b.passivations && a.storageGibHours === b.storageGibHours;
}

function sameState(a: MeterState, b: MeterState): boolean {
  return (
    a.phase === b.phase &&
    a.hour === b.hour &&
    a.counted === b.counted &&
    a.running?.task === b.running?.task &&
    a.running?.since === b.running?.since &&
    a.running?.meter === b.running?.meter &&
    JSON.stringify(a.outgoing ?? []) === JSON.stringify(b.outgoing ?? [])
  );
}

/** A tenant's usage as the token holder and operators read it: the totals now and what they cost. */
export interface UsageToDate extends UsageTotals {
  runningSeconds: Record<string, number>;
  tenantId: string;
  plan: string;
  /** ISO time the totals are taken at. */
  at: string;
  /** A task's running time is being counted right now. */
  running: boolean;
  costToDate: Cost;
  /** The last hour announced as `Tenant Usage`, if any. */
  reportedUntil?: string;
  /** The data's last measurement stopped at its bound (very many files): `storageGibHours` is a lower bound. */
  storageLowerBound?: true;
}

export function usageToDate(tenant: Tenant, now: Date, prices: CostPrices): UsageToDate {
  const totals = totalsAt(tenant.usage, now);
  const reportedUntil = tenant.usage?.reported?.until;
  return {
    tenantId: tenant.id,
    plan: tenant.spec.plan,
    at: now.toISOString(),
    ...totals,
    runningSeconds: totals.runningSeconds ?? {},
    running: tenant.usage?.meter?.running !== undefined || tenant.usage?.meter?.outgoing !== undefined,
    costToDate: costOf(totals, prices),
    ...(reportedUntil ? { reportedUntil } : {}),
    ...(tenant.usage?.meter?.storage?.lowerBound ? { storageLowerBound: true as const } : {}),
  };
}
