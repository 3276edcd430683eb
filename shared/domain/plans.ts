import { createHash } from 'node:crypto';

/**
 * Plans: what kind of tenant one is. A plan fixes the task's size and capacity, when the tenant
 * sleeps, how long its trial lasts and whether visitors may pick it at signup. Plans are declared
 * in configuration (`dormouse.plans`, `DORMOUSE_PLANS`); tenants name theirs in `spec.plan`.
 */

export const CAPACITIES = ['spot', 'on-demand'] as const;
/** `spot`: Fargate Spot, with the on-demand fallback; `on-demand`: Fargate only, never interrupted. */
export type Capacity = (typeof CAPACITIES)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * Hours in which a tenant is kept awake, every week, in a time zone: it is not passivated then,
 * and it is woken shortly before they begin. `to` earlier than `from` runs past midnight.
 */
export interface KeepWarm {
  /** An IANA time zone, e.g. `Europe/Paris`. */
  timeZone: string;
  /** The days the hours begin on. */
  days: Weekday[];
  /** `HH:MM`, 24-hour clock, local time. */
  from: string;
  to: string;
}

export interface PlanDefinition {
  /** Lowercase letters, digits and hyphens; what `spec.plan` and the API name. */
  name: string;
  /** Fargate task size: CPU units (1024 = 1 vCPU) and memory in MiB, a combination Fargate offers. */
  cpu: number;
  memory: number;
  capacity: Capacity;
  /**
   * How long without traffic before the tenant is passivated (configured in minutes as
   * `sleepAfterMinutes`); absent: it never sleeps.
   */
  idleMs?: number;
  /** Days from the start of the trial until it ends and the tenant is deleted; absent: no end. */
  trialDays?: number;
  /** Offered at signup, listed by `GET /plans`. Others are given by an operator. */
  public: boolean;
  /** A container image of its own (AWS only); absent: the installation's image. */
  image?: string;
  /** Non-secret environment for the plan's tasks, under the tenant's own. */
  environment: Record<string, string>;
  keepWarm?: KeepWarm;
}

/** Fargate's valid memory sizes (MiB) for each CPU size (units). */
export const FARGATE_MEMORY: Record<number, { min: number; max: number; step: number }> = {
  256: { min: 512, max: 2048, step: 512 }, // 512, 1024, 2048: see fargateMemoryChoices
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16_384, step: 1024 },
  4096: { min: 8192, max: 30_720, step: 1024 },
  8192: { min: 16_384, max: 61_440, step: 4096 },
  16_384: { min: 32_768, max: 122_880, step: 8192 },
};

export function fargateMemoryChoices(cpu: number): number[] {
  // The smallest size is the one irregular row: 0.5, 1 or 2 GB.
  if (cpu === 256) return [512, 1024, 2048];
  const range = FARGATE_MEMORY[cpu];
  if (!range) return [];
  const choices: number[] = [];
  for (let memory = range.min; memory <= range.max; memory += range.step) choices.push(memory);
  return choices;
}

/** The plans of an installation, in the order configured: the first public one is the default at signup. */
export interface PlanCatalog {
  plans: PlanDefinition[];
}

/** What the built-in plans are made from when none are configured. */
export interface PlanDefaults {
  cpu: number;
  memory: number;
  idleMs: number;
  trialDays: number;
}

/**
 * The plans of an installation that configures none: `trial` (offered at signup, Spot, sleeps
 * when idle, ends after the trial days) and `pro` (given by an operator: on-demand, never sleeps,
 * no end date), both at the installation's task size.
 */
export function builtInPlans({ cpu, memory, idleMs, trialDays }: PlanDefaults): PlanCatalog {
  return {
    plans: [
      { name: 'trial', cpu, memory, capacity: 'spot', idleMs, trialDays, public: true, environment: {} },
      { name: 'pro', cpu, memory, capacity: 'on-demand', public: false, environment: {} },
    ],
  };
}

export function planNamed(catalog: PlanCatalog, name: string): PlanDefinition | undefined {
  return catalog.plans.find((plan) => plan.name === name);
}

export function publicPlans(catalog: PlanCatalog): PlanDefinition[] {
  return catalog.plans.filter((plan) => plan.public);
}

/** The plan a signup that names none gets. A catalog always has one (the parser checks). */
export function defaultPlan(catalog: PlanCatalog): PlanDefinition {
  const first = publicPlans(catalog)[0];
  if (!first) throw new Error('No plan is public: signups have no plan to use.');
  return first;
}

/**
 * A short, stable digest of what a plan's tasks are started as (size, capacity, image,
 * environment): a task records the digest it was started with, so a tenant can show that it runs
 * an older definition after the plan was changed. The sleep policy, trial length, keep-warm hours
 * and being offered apply without a new task, so changing them makes no task outdated.
 */
export function planRevision({ cpu, memory, capacity, image, environment }: PlanDefinition): string {
  return digest({ cpu, memory, capacity, image, environment });
}

/**
 * What a task's environment (the plan's, under the tenant's own) may take, in bytes as RunTask's
 * container overrides carry it: ECS accepts at most 8 KiB for all of a task's overrides, and the
 * rest (size, the platform's own variables) needs room too. Each alone may be 4096 characters
 * (see the configuration's environment limits); together they must fit this.
 */
export const TASK_ENVIRONMENT_LIMIT_BYTES = 6144;

/** An environment's size as RunTask's container overrides carry it (a JSON list of name and value). */
export function environmentBytes(environment: Record<string, string> | undefined): number {
  const entries = Object.entries(environment ?? {}).map(([name, value]) => ({ name, value }));
  return new TextEncoder().encode(JSON.stringify(entries)).length;
}

/** A short, stable digest of a tenant's own environment, recorded on the task it started. */
export function environmentDigest(environment: Record<string, string> | undefined): string {
  return digest(environment ?? {});
}

function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 12);
}

/** JSON with object keys sorted, so equal values always give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
