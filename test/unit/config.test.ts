import { describe, expect, it } from 'vitest';
import { ConfigError, editDistance, loadApiConfig, tenantUrl, unknownSettings } from '../../shared/config.js';

const valid = {
  DORMOUSE_TABLE_NAME: 'tenants',
  DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'idempotency',
  DORMOUSE_BASE_URL: 'https://trials.example.com',
};

describe('loadApiConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadApiConfig(valid);

    expect(config).toMatchObject({ maxTenants: 1000, idempotencyTtlSeconds: 3600 });
    // The trial length is the built-in trial plan's.
    expect(config.plans.plans.map(({ name, trialDays }) => ({ name, trialDays }))).toEqual([
      { name: 'trial', trialDays: 14 },
      { name: 'pro', trialDays: undefined },
    ]);
    expect(config.adminToken).toBeUndefined();
  });

  it('names every missing or malformed variable', () => {
    const load = () => loadApiConfig({ DORMOUSE_BASE_URL: 'ftp://example.com', DORMOUSE_MAX_TENANTS: 'lots' });

    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/DORMOUSE_TABLE_NAME/);
    expect(load).toThrow(/DORMOUSE_IDEMPOTENCY_TABLE_NAME/);
    expect(load).toThrow(/DORMOUSE_BASE_URL: must start with http/);
    expect(load).toThrow(/DORMOUSE_MAX_TENANTS/);
  });

  it('refuses a base URL with a path and a short admin token', () => {
    expect(() => loadApiConfig({ ...valid, DORMOUSE_BASE_URL: 'https://example.com/trials' })).toThrow(/no path/);
    expect(() => loadApiConfig({ ...valid, DORMOUSE_ADMIN_TOKEN: 'short' })).toThrow(/DORMOUSE_ADMIN_TOKEN: must be at least 16/);
  });

  it('limits signups to 60 per address and hour, trusts no X-Forwarded-For and verifies no email by default', () => {
    expect(loadApiConfig(valid)).toMatchObject({ signupsPerHour: 60, trustForwardedFor: false, verifyEmail: false });
    expect(loadApiConfig({ ...valid, DORMOUSE_SIGNUPS_PER_HOUR: '0' }).signupsPerHour).toBe(0);
  });

  it('refuses a negative signup limit, and email verification without a sender, naming the variable', () => {
    expect(() => loadApiConfig({ ...valid, DORMOUSE_SIGNUPS_PER_HOUR: '-1' })).toThrow(/DORMOUSE_SIGNUPS_PER_HOUR/);
    expect(() => loadApiConfig({ ...valid, DORMOUSE_VERIFY_EMAIL: 'yes' })).toThrow(/DORMOUSE_VERIFY_EMAIL/);
    expect(() => loadApiConfig({ ...valid, DORMOUSE_VERIFY_EMAIL: 'true' })).toThrow(
      /DORMOUSE_EMAIL_SENDER: is required when DORMOUSE_VERIFY_EMAIL is true/,
    );
    expect(loadApiConfig({ ...valid, DORMOUSE_VERIFY_EMAIL: 'true', DORMOUSE_EMAIL_SENDER: 'Trials <trials@example.com>' })).toMatchObject({
      verifyEmail: true,
      emailSender: 'Trials <trials@example.com>',
    });
  });

  it('prices at x86_64 rates unless DORMOUSE_TASK_ARCHITECTURE names arm64, and names a bad value', () => {
    expect(loadApiConfig(valid).taskArchitecture).toBe('x86_64');
    expect(loadApiConfig({ ...valid, DORMOUSE_TASK_ARCHITECTURE: 'arm64' }).taskArchitecture).toBe('arm64');
    expect(() => loadApiConfig({ ...valid, DORMOUSE_TASK_ARCHITECTURE: 'aarch64' })).toThrow(/DORMOUSE_TASK_ARCHITECTURE/);
  });

  it('treats empty variables as unset', () => {
    expect(loadApiConfig({ ...valid, DORMOUSE_MAX_TENANTS: '', DORMOUSE_ADMIN_TOKEN: '' })).toMatchObject({ maxTenants: 1000 });
  });
});

describe('tenantUrl', () => {
  it.each([
    ['https://trials.example.com', 'https://acme.trials.example.com'],
    ['http://localhost:8080', 'http://acme.localhost:8080'],
    ['https://example.com:443', 'https://acme.example.com'],
  ])('puts the slug in front of %s', (base, expected) => {
    expect(tenantUrl(new URL(base), 'acme')).toBe(expected);
  });
});

describe('unknownSettings', () => {
  it('names each DORMOUSE_* variable the programs do not read, with the closest one they do', () => {
    const env = { DORMOUSE_TABLE_NAME: 'tenants', DORMOUSE_MAX_TENANT: '5', DORMOUSE_TRAIL_DAYS: '3', PATH: '/bin', HOME: '/root' };

    expect(unknownSettings(env, ['api'])).toEqual([
      { name: 'DORMOUSE_MAX_TENANT', closest: 'DORMOUSE_MAX_TENANTS' },
      { name: 'DORMOUSE_TRAIL_DAYS', closest: 'DORMOUSE_TRIAL_DAYS' },
    ]);
  });

  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});
