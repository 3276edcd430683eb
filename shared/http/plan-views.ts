import { publicPlans, type KeepWarm, type PlanCatalog, type PlanDefinition } from '../domain/plans.js';

/** A plan as visitors choosing one see it: what they get, never its image or environment. */
export interface PublicPlan {
  name: string;
  cpu: number;
  memory: number;
  capacity: PlanDefinition['capacity'];
  /** Minutes without traffic before the tenant sleeps, or `never`. */
  sleepAfterMinutes: number | 'never';
  /** Days the trial lasts, or null: no end date. */
  trialDays: number | null;
  keepWarm?: KeepWarm;
}

/** `GET /plans`: the plans offered at signup, the default first. */
export function publicPlanViews(plans: PlanCatalog): { plans: PublicPlan[] } {
  return {
    plans: publicPlans(plans).map((plan) => ({
      name: plan.name,
      cpu: plan.cpu,
      memory: plan.memory,
      capacity: plan.capacity,
      sleepAfterMinutes: plan.idleMs === undefined ? 'never' : plan.idleMs / 60_000,
      trialDays: plan.trialDays ?? null,
      ...(plan.keepWarm ? { keepWarm: plan.keepWarm } : {}),
    })),
  };
}

/**
 * Plans change only with the installation's configuration: browsers and proxies may keep the
 * list a minute, and a new configuration is seen everywhere soon after.
 */
export const PLANS_CACHE_CONTROL = 'public, max-age=60';
