import { createHash } from 'node:crypto';

/**
 * The installation id names one Dormouse installation (one stack, or one `npm start`). It is part
 * of every AWS name Dormouse gives a tenant's resources and of their `dormouse:installation` tag,
 * so two installations in one account and region never share, adopt or repair each other's
 * resources.
 *
 * Lowercase letters and digits, starting with a letter, at most 7 characters: it has to fit,
 * with a 100-bit digest, in a 32-character target group name (see shared/adapters/common/names.ts).
 */
export const INSTALLATION_MAX_LENGTH = 7;
export const INSTALLATION_PATTERN = /^[a-z][a-z0-9]{0,6}$/;

/** Embedded mode's installation id unless DORMOUSE_INSTALLATION says otherwise. */
export const LOCAL_INSTALLATION = 'local';

/** Returns why an installation id is not acceptable, or undefined when it is. */
export function installationProblem(id: string): string | undefined {
  if (INSTALLATION_PATTERN.test(id)) return undefined;
  return `must be 1 to ${INSTALLATION_MAX_LENGTH} lowercase letters and digits, starting with a letter (like "prod" or "stage2")`;
}

/**
 * The default installation id of a stack: its name in lowercase letters and digits when that
 * fits, otherwise its first three such characters and four of a digest of the whole name, so
 * `Dormouse` and `DormouseStaging` get different ids. Stack names are unique per account and
 * region; four base-36 characters can still coincide (about one pair in 1.7 million), which is
 * why an operator who runs several installations side by side should name them explicitly.
 */
export function installationFromStackName(stackName: string): string {
  const letters = stackName
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .replace(/^[0-9]+/, '');
  if (letters.length > 0 && letters.length <= INSTALLATION_MAX_LENGTH) return letters;
  const digest = BigInt(`0x${createHash('sha256').update(stackName).digest('hex').slice(0, 16)}`)
    .toString(36)
    .padStart(4, '0')
    .slice(-4);
  return `${(letters || 'dm').slice(0, 3)}${digest}`;
}
