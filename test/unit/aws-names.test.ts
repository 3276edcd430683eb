import { describe, expect, it } from 'vitest';
import { startedBy, targetGroupName, taskGroup, tenantFromTaskGroup } from '../../shared/adapters/aws/names.js';

const longest = `a${'b'.repeat(39)}`;

describe('AWS names for a tenant', () => {
  it('keep short slugs readable', () => {
    expect(targetGroupName('acme')).toBe('dm-acme');
    expect(startedBy('acme')).toBe('dm/acme');
  });

  it('fit AWS limits for the longest slug and stay distinct for slugs with the same prefix', () => {
    const other = `a${'b'.repeat(38)}c`;

    expect(targetGroupName(longest).length).toBeLessThanOrEqual(32);
    expect(startedBy(longest).length).toBeLessThanOrEqual(36);
    expect(targetGroupName(longest)).not.toBe(targetGroupName(other));
    expect(startedBy(longest)).not.toBe(startedBy(other));
    expect(targetGroupName(longest)).toMatch(/^[a-zA-Z0-9-]+$/);
    expect(targetGroupName(longest)).not.toMatch(/-$/);
  });

  it('round-trip the tenant through the task group', () => {
    expect(tenantFromTaskGroup(taskGroup('acme'))).toBe('acme');
    expect(tenantFromTaskGroup('service:web')).toBeUndefined();
    expect(tenantFromTaskGroup(undefined)).toBeUndefined();
  });
});
