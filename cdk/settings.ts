import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { SettingName } from '../shared/config/settings.js';

/** A setting as the CDK app knows it; lists become comma-separated, as the loaders read them. */
export type SettingValue = string | number | boolean | readonly string[];

/**
 * Writes Dormouse settings into a function's environment under their declared names
 * (shared/config/settings.ts): a name that is not declared does not compile.
 */
export function addSettings(fn: LambdaFunction, settings: { [K in SettingName]?: SettingValue }): void {
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    fn.addEnvironment(name, Array.isArray(value) ? value.join(',') : String(value));
  }
}
