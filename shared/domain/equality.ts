/**
 * Structural equality of unmarshalled items. Key order is not significant (DynamoDB does not
 * keep it), and an attribute set to `undefined` counts as absent, as it does once stored.
 */
export function equalAsStored(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, index) => equalAsStored(value, b[index]));
  }
  const defined = (value: object) => Object.entries(value).filter(([, entry]) => entry !== undefined);
  const left = defined(a);
  const right = new Map(defined(b));
  return left.length === right.size && left.every(([name, value]) => right.has(name) && equalAsStored(value, right.get(name)));
}
