import { describe, expect, it } from 'vitest';
import { isActive, newTenant, publicView, withDesired, type Phase } from '../../shared/domain/tenant.js';

const now = new Date('2026-11-21T10:00:00.000Z');
const tenant = newTenant({ slug: 'acme', email: 'ann@acme.test', plan: 'trial', tokenHash: 'f'.repeat(64), now, trialDays: 14 });

describe('a new tenant', () => {
  it('wants to run, is pending and has not been observed yet', () => {
    expect(tenant.spec).toEqual({ desired: 'running', generation: 1, plan: 'trial' });
    expect(tenant.status).toMatchObject({ phase: 'Pending', observedGeneration: 0, attempts: 0 });
    expect(tenant.version).toBe(0);
  });

  it('ends its trial after the configured number of days', () => {
    expect(tenant.trialEndsAt).toBe('2026-12-05T10:00:00.000Z');
    expect(tenant.createdAt).toBe(now.toISOString());
  });
});

describe('withDesired', () => {
  it('bumps the generation when the expected state changes', () => {
    const passivated = withDesired(tenant, 'passivated');

    expect(passivated.spec).toMatchObject({ desired: 'passivated', generation: 2 });
    expect(tenant.spec.generation).toBe(1);
  });

  it('returns the same object when nothing changes, so no write is needed', () => {
    expect(withDesired(tenant, 'running')).toBe(tenant);
  });
});

describe('publicView', () => {
  it('leaves out the email, the token hash and AWS identifiers', () => {
    const view = publicView(
      { ...tenant, status: { ...tenant.status, task: { arn: 'arn:aws:ecs:task/1', capacityProvider: 'FARGATE_SPOT' } } },
      'https://acme.example.com',
    );

    expect(Object.keys(view).sort()).toEqual(
      ['createdAt', 'desired', 'generation', 'id', 'lastActiveAt', 'observedGeneration', 'phase', 'plan', 'trialEndsAt', 'url'].sort(),
    );
  });

  it('gives anyone a fixed sentence for the kind of error, the token holder and admins the error without secrets', () => {
    const lastError = 'The image could not be pulled (registry password=hunter2, arn:aws:iam::123456789012:role/x).';
    const failed = {
      ...tenant,
      status: { ...tenant.status, phase: 'Failed' as const, lastError, lastErrorCategory: 'not-started' as const },
    };

    expect(publicView(failed, 'https://acme.example.com').reason).toBe('The application did not start.');
    expect(publicView(failed, 'https://acme.example.com', 'owner').reason).toBe(
      'The image could not be pulled (registry password=***, arn:***).',
    );
    expect(publicView(failed, 'https://acme.example.com', 'admin').reason).toBe(
      'The image could not be pulled (registry password=***, arn:aws:iam::123456789012:role/x).',
    );
  });
});

describe('isActive', () => {
  it.each<[Phase, boolean]>([
    ['Pending', true],
    ['Queued', true],
    ['Provisioning', true],
    ['Running', true],
    ['Passivating', true],
    ['Waking', true],
    ['Failed', true],
    ['Deleting', true],
    ['Passivated', false],
    ['Deleted', false],
  ])('is %s → %s', (phase, active) => {
    const desired = phase === 'Passivated' ? 'passivated' : phase === 'Deleted' ? 'deleted' : 'running';
    expect(isActive({ ...tenant, spec: { ...tenant.spec, desired }, status: { ...tenant.status, phase } })).toBe(active);
  });

  it.each(['running', 'deleted'] as const)(
    'keeps a passivated tenant asked to be %s in the index, so a lost event cannot strand it',
    (desired) => {
      expect(isActive({ ...tenant, spec: { ...tenant.spec, desired }, status: { ...tenant.status, phase: 'Passivated' } })).toBe(true);
    },
  );
});
