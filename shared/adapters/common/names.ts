import { createHash } from 'node:crypto';
import type { LaunchedAs } from '../../domain/tenant.js';

/**
 * Deterministic AWS names and tags for a tenant's resources. Deterministic names make "create"
 * safe to repeat after a crash; the installation id in every name and tag keeps two
 * installations in one account apart.
 *
 * Why two valid slugs never get the same name. A name is either
 *   - readable: `dm-<installation>-<slug>` (target group), `dm/<installation>/<slug>` (startedBy),
 *     used when the whole slug fits, or
 *   - hashed: `dm-<installation>-<head>--<digest>` / `dm/<installation>/<head>_<digest>`, where
 *     `<head>` is as much of the slug as fits and `<digest>` is 100 bits of SHA-256 over
 *     installation and slug, in base 32 (`dm-<installation>--<digest>` when no head fits).
 * The installation id is letters and digits only, so it is always the text between `dm` and the
 * next separator: names of different installations always differ. Slugs never contain `--` or `_`,
 * so a readable name can never equal a hashed one. Two readable names are equal only for equal
 * slugs. Two hashed names are equal only if 100 bits of SHA-256 of two different inputs are:
 * finding a slug that matches a given tenant's takes about 2^100 hashes, and even among a
 * million tenants the chance that any two collide by accident is about 10^-18.
 *
 * Names only find a resource; they never prove whose it is. Every resource is also tagged with
 * TENANT_TAG and INSTALLATION_TAG, and the adapters check both before they adopt, change or
 * remove one that they found by name. So even a collision (say, two slugs crafted to share a
 * digest) could not hand one tenant's traffic to another: the second tenant's group would be
 * refused, not shared.
 */

/** Tag on every task, target group and rule Dormouse creates; its value is the tenant id. */
export const TENANT_TAG = 'dormouse:tenant';
/** Tag on every task, target group and rule Dormouse creates; its value is the installation id. */
export const INSTALLATION_TAG = 'dormouse:installation';

/** ELBv2 target group names: at most 32 characters, letters, digits and hyphens. */
const TARGET_GROUP_MAX = 32;
/** RunTask `startedBy`: at most 36 characters, letters, digits, hyphens, `/` and `_`. */
const STARTED_BY_MAX = 36;
/** 20 base-32 characters carry 100 bits. */
const DIGEST_LENGTH = 20;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 100 bits of SHA-256 over installation and slug, as 20 lowercase base-32 characters. */
export function nameDigest(installation: string, tenantId: string): string {
  const bytes = createHash('sha256').update(`${installation}\n${tenantId}`).digest();
  let bits = 0n;
  for (const byte of bytes.subarray(0, 13)) bits = (bits << 8n) | BigInt(byte);
  // 104 bits read; keep the top 100.
  bits >>= 4n;
  let digest = '';
  for (let i = 0; i < DIGEST_LENGTH; i++) {
    digest = BASE32[Number(bits & 31n)] + digest;
    bits >>= 5n;
  }
  return digest;
}

/**
 * `<stem><sep><slug>` when it fits in `max`, else `<stem><sep><head><marker><digest>` with as
 * much of the slug as fits for `<head>` (its trailing hyphens dropped), or `<stem><marker><digest>`
 * when not even one character of it fits.
 */
function fit(stem: string, sep: string, marker: string, installation: string, tenantId: string, max: number): string {
  const whole = `${stem}${sep}${tenantId}`;
  if (whole.length <= max) return whole;
  const room = max - stem.length - sep.length - marker.length - DIGEST_LENGTH;
  const head = tenantId.slice(0, Math.max(0, room)).replace(/-+$/, '');
  const digest = nameDigest(installation, tenantId);
  return head ? `${stem}${sep}${head}${marker}${digest}` : `${stem}${marker}${digest}`;
}

/** Target group names: unique per tenant and installation, at most 32 characters. */
export function targetGroupName(installation: string, tenantId: string): string {
  return fit(`dm-${installation}`, '-', '--', installation, tenantId, TARGET_GROUP_MAX);
}

/** What every target group name of the installation starts with: how drift repair lists them. */
export function targetGroupPrefix(installation: string): string {
  return `dm-${installation}-`;
}

/** ECS task definition families: at most 255 letters, digits, hyphens and underscores. */
const TASK_FAMILY_MAX = 255;
/** EFS CreateAccessPoint `ClientToken`: at most 64 ASCII characters. */
const CLIENT_TOKEN_MAX = 64;

/**
 * The family of the tenant's own task definition (the installation's task definition plus the
 * tenant's data volume): unique per tenant and installation, `dm-<installation>-<slug>` in practice.
 */
export function taskFamily(installation: string, tenantId: string): string {
  return fit(`dm-${installation}`, '-', '--', installation, tenantId, TASK_FAMILY_MAX);
}

/** What every tenant task definition family of the installation starts with: how drift repair lists them. */
export function taskFamilyPrefix(installation: string): string {
  return `dm-${installation}-`;
}

/**
 * CreateAccessPoint's idempotency token for the tenant's access point. Should EFS remember a
 * token after its access point was deleted, `replacing` (the id of that deleted access point)
 * derives the next token from it, so a retry after a crash still sends the same one.
 */
export function accessPointToken(installation: string, tenantId: string, replacing?: string): string {
  if (replacing === undefined) return fit(`dm-${installation}`, '-', '--', installation, tenantId, CLIENT_TOKEN_MAX);
  // Slugs have no newline, so this input is never another tenant's.
  return `dm-${installation}--${nameDigest(installation, `${tenantId}\n${replacing}`)}`;
}

/** RunTask `startedBy`: unique per tenant and installation, at most 36 characters; ListTasks filters on it. */
export function startedBy(installation: string, tenantId: string): string {
  return fit(`dm/${installation}`, '/', '_', installation, tenantId, STARTED_BY_MAX);
}

/** The two tags every tenant resource carries, as ELBv2 and ECS spell tag lists. */
export function ownerTags(installation: string, tenantId: string): { key: string; value: string }[] {
  return [
    { key: TENANT_TAG, value: tenantId },
    { key: INSTALLATION_TAG, value: installation },
  ];
}

/** Whose a resource is according to its tags; a missing tag reads as undefined. */
export interface Owner {
  tenantId: string | undefined;
  installation: string | undefined;
}

export function ownerFromTags(tags: ReadonlyArray<{ key?: string | undefined; value?: string | undefined }> | undefined): Owner {
  const value = (key: string) => tags?.find((tag) => tag.key === key)?.value;
  return { tenantId: value(TENANT_TAG), installation: value(INSTALLATION_TAG) };
}

/** Tag on a tenant task: what it was started as, `<plan>/<revision>/<environment digest>`. */
export const LAUNCHED_AS_TAG = 'dormouse:launched-as';
/**
 * Plan names as configured (lowercase, at most 31) and two 12-hex digests: at most 57 characters
 * from `a-z0-9-/`, well within what an AWS tag value may hold (256, letters, digits, `+-=._:/@`).
 */
const LAUNCHED_AS_VALUE = /^([a-z][a-z0-9-]{0,30})\/([0-9a-f]{12})\/([0-9a-f]{12})$/;

/** The tag a task carries to say what it was started as; a value no tag could hold is refused here, not by AWS. */
export function launchedAsTag(launchedAs: LaunchedAs): { key: string; value: string } {
  const value = `${launchedAs.plan}/${launchedAs.revision}/${launchedAs.environment}`;
  if (!LAUNCHED_AS_VALUE.test(value)) {
    throw new RangeError(`Cannot tag a task as launched as ${JSON.stringify(launchedAs)}: not a plan name and two 12-hex digests`);
  }
  return { key: LAUNCHED_AS_TAG, value };
}

/** What a task's tags say it was started as; undefined without the tag or with one that does not read as such (set by hand). */
export function launchedAsFromTags(
  tags: ReadonlyArray<{ key?: string | undefined; value?: string | undefined }> | undefined,
): LaunchedAs | undefined {
  const match = LAUNCHED_AS_VALUE.exec(tags?.find((tag) => tag.key === LAUNCHED_AS_TAG)?.value ?? '');
  return match ? { plan: match[1]!, revision: match[2]!, environment: match[3]! } : undefined;
}

/** RunTask `group`: names the tenant in the console and in task state change events. */
export function taskGroup(tenantId: string): string {
  return `tenant:${tenantId}`;
}

/** The tenant a task group names, or undefined for tasks that are not a tenant's. */
export function tenantFromTaskGroup(group: string | undefined): string | undefined {
  return group?.startsWith('tenant:') ? group.slice('tenant:'.length) : undefined;
}

/** The one container of a tenant task. */
export const TENANT_CONTAINER = 'app';
/** The awslogs stream prefix of tenant tasks, in the installation's own tenant log group. */
export const TENANT_LOG_STREAM_PREFIX = 'tenant';

/** The log stream the awslogs driver writes a tenant task's output to: `<prefix>/<container>/<task id>`. */
export function tenantLogStream(taskId: string): string {
  return `${TENANT_LOG_STREAM_PREFIX}/${TENANT_CONTAINER}/${taskId}`;
}
