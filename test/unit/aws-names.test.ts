import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  INSTALLATION_TAG,
  LAUNCHED_AS_TAG,
  TENANT_TAG,
  launchedAsFromTags,
  launchedAsTag,
  nameDigest,
  ownerFromTags,
  ownerTags,
  startedBy,
  targetGroupName,
  targetGroupPrefix,
  taskGroup,
  tenantFromTaskGroup,
  taskFamily,
  taskFamilyPrefix,
} from '../../shared/adapters/common/names.js';
import { installationFromStackName, installationProblem } from '../../shared/domain/installation.js';
import { isValidSlug } from '../../shared/domain/slug.js';

const longest = `a${'b'.repeat(39)}`;
/** Two slugs whose names were equal when names carried 32 bits of hash (found in 3 minutes on 2 cores). */
const COLLIDING = ['acme-corporation-production-trial-env', 'acme-corporation-productionzodudz6aaa'] as const;

describe('AWS names for a tenant', () => {
  it('keep short slugs readable, with the installation id in them', () => {
    expect(targetGroupName('local', 'acme')).toBe('dm-local-acme');
    expect(startedBy('local', 'acme')).toBe('dm/local/acme');
    expect(targetGroupName('prod', 'acme').startsWith(targetGroupPrefix('prod'))).toBe(true);
  });

  it("name a tenant's own task definition family in full, under a prefix of its installation only", () => {
    expect(taskFamily('prod', longest)).toBe(`dm-prod-${longest}`);
    expect(taskFamily('prod', longest).length).toBeLessThanOrEqual(255);
    expect(taskFamily('prod', 'acme').startsWith(taskFamilyPrefix('prod'))).toBe(true);
    // The IAM pattern `dm-<installation>-*` of one installation never matches another's families.
    expect(taskFamily('prod2', 'acme').startsWith(taskFamilyPrefix('prod'))).toBe(false);
  });

  it('differ for the two slugs that collided under the old 32-bit scheme', () => {
    const [first, second] = COLLIDING;
    expect(isValidSlug(first) && isValidSlug(second)).toBe(true);

    expect(targetGroupName('local', first)).not.toBe(targetGroupName('local', second));
    expect(startedBy('local', first)).not.toBe(startedBy('local', second));
  });

  it('differ between installations for the same slug', () => {
    expect(targetGroupName('stage', 'acme')).not.toBe(targetGroupName('prod', 'acme'));
    expect(targetGroupName('stage', longest)).not.toBe(targetGroupName('prod', longest));
    expect(startedBy('stage', longest)).not.toBe(startedBy('prod', longest));
  });

  it.each(['a', 'local', 'abcdefg'])('fit AWS limits and character sets for every slug length (installation %s)', (installation) => {
    for (let length = 3; length <= 40; length++) {
      const slug = `a${'b-c'.repeat(20)}`.slice(0, length).replace(/-$/, 'd');
      const group = targetGroupName(installation, slug);
      const started = startedBy(installation, slug);
      expect(group.length).toBeLessThanOrEqual(32);
      expect(group).toMatch(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/);
      expect(group.startsWith(targetGroupPrefix(installation))).toBe(true);
      expect(started.length).toBeLessThanOrEqual(36);
      expect(started).toMatch(/^[a-zA-Z0-9_/-]+$/);
    }
  });

  it('use the whole slug when it fits, and otherwise a readable head, a marker no slug contains and 100 bits of digest', () => {
    const digest = nameDigest('local', longest);
    expect(digest).toMatch(/^[a-z2-7]{20}$/);
    expect(targetGroupName('local', longest)).toBe(`dm-local-a--${digest}`);
    expect(startedBy('local', longest)).toBe(`dm/local/abbbbb_${digest}`);
    // A slug that looks like a digest still gets its readable name, which has no marker.
    expect(targetGroupName('local', `a${digest.slice(1)}`)).toBe(`dm-local-a${digest.slice(1)}`);
  });

  it('never give two of many random slugs the same name', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-';
    const slugs = new Set<string>(COLLIDING);
    while (slugs.size < 20_000) {
      const length = randomInt(3, 41);
      let slug = 'a';
      while (slug.length < length) slug += alphabet[randomInt(alphabet.length)];
      if (isValidSlug(slug)) slugs.add(slug);
    }
    const groups = new Set([...slugs].map((slug) => targetGroupName('local', slug)));
    const started = new Set([...slugs].map((slug) => startedBy('local', slug)));
    expect(groups.size).toBe(slugs.size);
    expect(started.size).toBe(slugs.size);
  });

  it('tag every resource with its tenant and installation, and read both back', () => {
    expect(ownerTags('prod', 'acme')).toEqual([
      { key: TENANT_TAG, value: 'acme' },
      { key: INSTALLATION_TAG, value: 'prod' },
    ]);
    expect(ownerFromTags(ownerTags('prod', 'acme'))).toEqual({ tenantId: 'acme', installation: 'prod' });
    expect(ownerFromTags([{ key: TENANT_TAG, value: 'acme' }])).toEqual({ tenantId: 'acme', installation: undefined });
  });

  it('round-trip the tenant through the task group', () => {
    expect(tenantFromTaskGroup(taskGroup('acme'))).toBe('acme');
    expect(tenantFromTaskGroup('service:web')).toBeUndefined();
    expect(tenantFromTaskGroup(undefined)).toBeUndefined();
  });
});

describe('installation ids', () => {
  it('accept short lowercase alphanumerics starting with a letter, and nothing else', () => {
    for (const good of ['local', 'prod', 'stage2', 'a', 'abcdefg']) expect(installationProblem(good)).toBeUndefined();
    for (const bad of ['', 'Prod', 'pro-d', '2prod', 'abcdefgh', 'pro_d']) expect(installationProblem(bad)).toMatch(/1 to 7 lowercase/);
  });

  it('default from the stack name: readable when it fits, distinct for longer names that share a beginning', () => {
    expect(installationFromStackName('Trials')).toBe('trials');
    const production = installationFromStackName('Dormouse');
    const staging = installationFromStackName('DormouseStaging');
    expect(production).not.toBe(staging);
    for (const id of [production, staging, installationFromStackName('9-Lives-Stack')]) expect(installationProblem(id)).toBeUndefined();
    expect(installationFromStackName('Dormouse')).toBe(production);
  });
});

describe('the launched-as tag of a task', () => {
  it('round-trips a plan name and two digests, well within the 256 characters of a tag value', () => {
    const longest = { plan: `p${'a'.repeat(30)}`, revision: '0123456789ab', environment: 'abcdef012345' };

    const tag = launchedAsTag(longest);

    expect(tag).toEqual({ key: LAUNCHED_AS_TAG, value: `${longest.plan}/0123456789ab/abcdef012345` });
    expect(tag.value.length).toBeLessThanOrEqual(256);
    expect(launchedAsFromTags([tag])).toEqual(longest);
  });

  it.each([
    ['no tag', []],
    ['a plan name alone', [{ key: LAUNCHED_AS_TAG, value: 'pro' }]],
    ['a digest that is not 12 hex', [{ key: LAUNCHED_AS_TAG, value: 'pro/0123456789ab/xyz' }]],
    ['an uppercase plan', [{ key: LAUNCHED_AS_TAG, value: 'Pro/0123456789ab/abcdef012345' }]],
  ])('reads nothing from %s', (_case, tags) => {
    expect(launchedAsFromTags(tags)).toBeUndefined();
  });

  it('refuses to make a tag of a launch that is not a plan name and two digests', () => {
    expect(() => launchedAsTag({ plan: 'pro plan', revision: '0123456789ab', environment: 'abcdef012345' })).toThrow(RangeError);
    expect(() => launchedAsTag({ plan: 'pro', revision: '0123', environment: 'abcdef012345' })).toThrow(RangeError);
  });
});
