import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../../shared/config.js';
import { defaultPlan, publicPlans } from '../../shared/domain/plans.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/plans.json', import.meta.url));

describe('the example plans file', () => {
  it('is a valid DORMOUSE_PLANS file: trials offered at signup, paid plans given by operators', () => {
    const { plans } = loadApiConfig({
      DORMOUSE_TABLE_NAME: 'tenants',
      DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'idempotency',
      DORMOUSE_BASE_URL: 'https://trials.example.com',
      DORMOUSE_PLANS: EXAMPLE,
    });

    expect(plans.plans.map((plan) => plan.name)).toEqual(['trial', 'team-trial', 'pro', 'business']);
    expect(defaultPlan(plans).name).toBe('trial');
    expect(publicPlans(plans).every((plan) => plan.trialDays !== undefined)).toBe(true);
    expect(plans.plans[2]).toEqual({ name: 'pro', cpu: 1024, memory: 2048, capacity: 'on-demand', public: false, environment: {} });
    expect(plans.plans[3]).toMatchObject({ idleMs: 3_600_000, keepWarm: { timeZone: 'Europe/Paris', from: '08:00', to: '18:00' } });
  });
});
