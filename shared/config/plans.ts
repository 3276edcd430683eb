// zod's mini build, as in settings.ts: plans are read at every cold start.
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import {
  CAPACITIES,
  environmentBytes,
  FARGATE_MEMORY,
  fargateMemoryChoices,
  TASK_ENVIRONMENT_LIMIT_BYTES,
  WEEKDAYS,
  type PlanCatalog,
  type PlanDefinition,
} from '../domain/plans.js';
import { ConfigError } from './settings.js';

/**
 * The plans file (`dormouse.plans` in cdk.json, `DORMOUSE_PLANS` locally): a JSON array of plans.
 *
 *   [{ "name": "trial", "cpu": 256, "memory": 512, "capacity": "spot", "sleepAfterMinutes": 15,
 *      "trialDays": 14, "public": true },
 *    { "name": "pro", "cpu": 1024, "memory": 2048, "capacity": "on-demand", "sleepAfterMinutes": "never",
 *      "keepWarm": { "timeZone": "Europe/Paris", "days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00" } }]
 *
 * A bad file stops start-up with one line per problem, each naming the plan and the field.
 */

const PLAN_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const CLOCK_TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
/** Names the platform sets on every task: a plan or tenant may not replace them. */
export const RESERVED_ENVIRONMENT = /^(DORMOUSE_|AWS_|ECS_)|^(TENANT_ID|TENANT_HOST|DATA_DIR|PORT|PATH|NODE_OPTIONS)$/;
const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Limits that keep RunTask's overrides (8 KiB in all) well within bounds. */
export const ENVIRONMENT_LIMITS = { variables: 50, valueChars: 1024, totalChars: 4096 } as const;

/** IANA time zones as this runtime knows them. */
function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const keepWarmSchema = z.strictObject({
  timeZone: z.string().check(z.refine(isTimeZone, 'must be an IANA time zone, such as Europe/Paris')),
  days: z
    .array(z.enum(WEEKDAYS, { error: `must be days among ${WEEKDAYS.join(', ')}` }))
    .check(z.minLength(1, 'must name at least one day')),
  from: z.string().check(z.regex(CLOCK_TIME, 'must be a time as HH:MM, 24-hour clock')),
  to: z.string().check(z.regex(CLOCK_TIME, 'must be a time as HH:MM, 24-hour clock')),
});

/** Non-secret `KEY=value` pairs for a task, within RunTask's override limits. */
export const environmentSchema = z.record(z.string(), z.string()).check(
  z.superRefine((environment, ctx) => {
    const entries = Object.entries(environment);
    if (entries.length > ENVIRONMENT_LIMITS.variables) {
      ctx.addIssue({ code: 'custom', message: `may hold at most ${ENVIRONMENT_LIMITS.variables} variables` });
    }
    let total = 0;
    for (const [name, value] of entries) {
      total += name.length + value.length;
      if (!ENVIRONMENT_NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'is not a variable name (letters, digits and _, not starting with a digit)',
        });
      } else if (RESERVED_ENVIRONMENT.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Dormouse and cannot be replaced' });
      } else if (value.length > ENVIRONMENT_LIMITS.valueChars || /[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `must be at most ${ENVIRONMENT_LIMITS.valueChars} printable characters` });
      }
    }
    if (total > ENVIRONMENT_LIMITS.totalChars) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${ENVIRONMENT_LIMITS.totalChars} characters in all (names and values)` });
    } else if (environmentBytes(environment) > TASK_ENVIRONMENT_LIMIT_BYTES) {
      // Characters outside ASCII take more than a byte each in RunTask's overrides.
      ctx.addIssue({ code: 'custom', message: `must fit ${TASK_ENVIRONMENT_LIMIT_BYTES} bytes as RunTask's overrides carry it` });
    }
  }),
);

const wholeNumber = (min: number, max: number) =>
  z
    .number({ error: 'must be a number' })
    .check(z.int('must be a whole number'), z.minimum(min, `must be at least ${min}`), z.maximum(max, `must be at most ${max}`));

const planSchema = z.strictObject({
  name: z
    .string({ error: 'is required' })
    .check(z.regex(PLAN_NAME, 'must be lowercase letters, digits and hyphens, starting with a letter, at most 31')),
  cpu: z._default(
    wholeNumber(256, 16_384).check(
      z.refine((cpu) => FARGATE_MEMORY[cpu] !== undefined, `must be one of ${Object.keys(FARGATE_MEMORY).join(', ')}`),
    ),
    256,
  ),
  memory: z._default(wholeNumber(512, 122_880), 512),
  capacity: z._default(z.enum(CAPACITIES, { error: `must be one of: ${CAPACITIES.join(', ')}` }), 'spot'),
  sleepAfterMinutes: z._default(
    z.union([wholeNumber(1, 10_080), z.literal('never')], { error: 'must be minutes (1 to 10080) or "never"' }),
    15,
  ),
  trialDays: z.optional(z.nullable(wholeNumber(1, 3653))),
  public: z._default(z.boolean({ error: 'must be true or false' }), false),
  image: z.optional(z.string().check(z.minLength(1), z.maxLength(255, 'must be at most 255 characters'))),
  environment: z._default(environmentSchema, {}),
  keepWarm: z.optional(keepWarmSchema),
});

const catalogSchema = z.array(planSchema).check(z.minLength(1, 'must declare at least one plan'));

/**
 * Reads a plans file's content (already JSON-parsed). `source` names where it came from, for
 * the messages: `DORMOUSE_PLANS`, `dormouse.plans`.
 */
export function parsePlanCatalog(input: unknown, source: string): PlanCatalog {
  const result = z.safeParse(catalogSchema, input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const [index, ...field] = issue.path;
        const plan = typeof index === 'number' && Array.isArray(input) ? planLabel(input[index], index) : undefined;
        const where = plan ? `${source}: plan ${plan}${field.length ? `, ${field.join('.')}` : ''}` : source;
        return `${where}: ${issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')} is not a known field` : issue.message}`;
      }),
    );
  }
  const plans = result.data.map(({ sleepAfterMinutes, trialDays, image, keepWarm, ...plan }): PlanDefinition => ({
    ...plan,
    ...(sleepAfterMinutes === 'never' ? {} : { idleMs: sleepAfterMinutes * 60_000 }),
    ...(trialDays ? { trialDays } : {}),
    ...(image ? { image } : {}),
    ...(keepWarm ? { keepWarm } : {}),
  }));
  const problems = plans.flatMap((plan, index) =>
    catalogProblems(plans, plan, index).map((problem) => `${source}: plan "${plan.name}", ${problem}`),
  );
  if (!plans.some((plan) => plan.public))
    problems.push(`${source}: no plan is public; at least one must be offered at signup ("public": true)`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { plans };
}

/**
 * Reads `DORMOUSE_PLANS`: the JSON itself, or the path of a file that holds it (read once, at
 * start, so synchronously).
 */
export function readPlansSetting(value: string): PlanCatalog {
  let text = value;
  if (!value.trimStart().startsWith('[')) {
    try {
      text = readFileSync(value, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ConfigError([
        `DORMOUSE_PLANS: cannot read the file ${value} (${reason}); give the plans as JSON or the path of a JSON file`,
      ]);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`DORMOUSE_PLANS: is not valid JSON (${(error as Error).message})`]);
  }
  return parsePlanCatalog(parsed, 'DORMOUSE_PLANS');
}

function planLabel(entry: unknown, index: number): string {
  const name = entry && typeof entry === 'object' ? (entry as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name ? `"${name}"` : `#${index + 1}`;
}

function catalogProblems(plans: PlanDefinition[], plan: PlanDefinition, index: number): string[] {
  const problems: string[] = [];
  if (plans.findIndex((other) => other.name === plan.name) !== index) problems.push('name: is used by another plan');
  const choices = fargateMemoryChoices(plan.cpu);
  if (choices.length > 0 && !choices.includes(plan.memory)) {
    problems.push(
      `memory: must suit cpu ${plan.cpu} on Fargate: one of ${choices.length > 8 ? `${choices[0]} to ${choices.at(-1)} in steps of ${FARGATE_MEMORY[plan.cpu]?.step}` : choices.join(', ')}`,
    );
  }
  return problems;
}

const planTaskDefinitionsSchema = z.record(z.string(), z.string().check(z.minLength(1, 'must name a task definition')));

/**
 * Reads `DORMOUSE_PLAN_TASK_DEFINITIONS`, a JSON object of plan name → task definition, set by the
 * CDK app for the plans with an image of their own. Every plan it names must be configured:
 * otherwise the two settings come from different deployments.
 */
export function parsePlanTaskDefinitions(value: string | undefined, catalog: PlanCatalog): Record<string, string> {
  if (value === undefined) return {};
  const name = 'DORMOUSE_PLAN_TASK_DEFINITIONS';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new ConfigError([`${name}: is not valid JSON (${(error as Error).message})`]);
  }
  const result = z.safeParse(planTaskDefinitionsSchema, parsed);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${name}: ${issue.path.length ? `plan ${issue.path.join('.')}: ` : ''}${issue.message}`),
    );
  }
  const unknown = Object.keys(result.data).filter((plan) => !catalog.plans.some((defined) => defined.name === plan));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((plan) => `${name}: plan "${plan}" is not configured (DORMOUSE_PLANS)`));
  }
  return result.data;
}
