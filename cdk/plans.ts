import { readFileSync } from 'node:fs';
import { parsePlanCatalog } from '../shared/config/plans.js';
import { ConfigError } from '../shared/config/settings.js';
import { builtInPlans, type PlanCatalog, type PlanDefinition } from '../shared/domain/plans.js';

/** Where the plans come from in cdk.json, and what every message about them starts with. */
export const PLANS_KEY = 'dormouse.plans';

/** What the built-in plans are made of when `dormouse.plans` is left out. */
export interface BuiltInPlanSettings {
  cpu: number;
  memory: number;
  idleTimeoutMinutes: number;
  trialDays: number;
}

/**
 * The installation's plans: `dormouse.plans` (a list of plans, or the path of a JSON file that
 * holds one, from the directory `cdk` runs in), read by the parser the functions use; left out,
 * the built-in `trial` and `pro` at the configured size, idle timeout and trial length. Bad
 * plans throw a ConfigError whose lines name the plan and the field.
 */
export function resolvePlans(input: unknown, builtIn: BuiltInPlanSettings): PlanCatalog {
  if (input === undefined) {
    return builtInPlans({
      cpu: builtIn.cpu,
      memory: builtIn.memory,
      idleMs: builtIn.idleTimeoutMinutes * 60_000,
      trialDays: builtIn.trialDays,
    });
  }
  return parsePlanCatalog(typeof input === 'string' ? readPlansFile(input) : input, PLANS_KEY);
}

function readPlansFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError([`${PLANS_KEY}: cannot read the file ${path} (${reason}); give a list of plans or the path of a JSON file`]);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${PLANS_KEY}: the file ${path} is not valid JSON (${(error as Error).message})`]);
  }
}

/** A plan as the plans file writes it: the form `DORMOUSE_PLANS` is read in. */
interface PlanFileEntry {
  name: string;
  cpu: number;
  memory: number;
  capacity: PlanDefinition['capacity'];
  sleepAfterMinutes: number | 'never';
  trialDays?: number;
  public?: true;
  image?: string;
  environment?: Record<string, string>;
  keepWarm?: PlanDefinition['keepWarm'];
}

/**
 * The resolved plans as compact plans-file JSON, for `DORMOUSE_PLANS`: every size, capacity and
 * sleep policy written out, so the functions never fall back to sizes of their own; values equal
 * to the parser's defaults (not public, no environment) left out, as they take room in an
 * environment Lambda holds to 4 KB.
 */
export function plansSetting(catalog: PlanCatalog): string {
  const entries = catalog.plans.map((plan): PlanFileEntry => {
    if (plan.idleMs !== undefined && plan.idleMs % 60_000 !== 0) {
      throw new Error(`Plan "${plan.name}" sleeps after ${plan.idleMs} ms, which is not a whole number of minutes`);
    }
    return {
      name: plan.name,
      cpu: plan.cpu,
      memory: plan.memory,
      capacity: plan.capacity,
      sleepAfterMinutes: plan.idleMs === undefined ? 'never' : plan.idleMs / 60_000,
      ...(plan.trialDays === undefined ? {} : { trialDays: plan.trialDays }),
      ...(plan.public ? { public: true as const } : {}),
      ...(plan.image === undefined ? {} : { image: plan.image }),
      ...(Object.keys(plan.environment).length > 0 ? { environment: plan.environment } : {}),
      ...(plan.keepWarm === undefined ? {} : { keepWarm: plan.keepWarm }),
    };
  });
  return JSON.stringify(entries);
}

/** The plans with a container image of their own: each gets a task definition of its own. */
export function plansWithImages(catalog: PlanCatalog): Array<PlanDefinition & { image: string }> {
  return catalog.plans.filter((plan): plan is PlanDefinition & { image: string } => plan.image !== undefined);
}
