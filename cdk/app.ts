/**
 * `cdk synth` / `cdk deploy` entry point (cdk.json: "app": "npx tsx cdk/app.ts"). Settings come
 * from the `dormouse` context object in cdk.json, overridable with `-c dormouse.<key>=<value>`.
 */
import { DormouseConfigError } from './config.js';
import { createDormouseApp } from './dormouse-app.js';

try {
  createDormouseApp();
} catch (error) {
  // A settings mistake is the operator's to fix: say what is wrong without a stack trace.
  if (!(error instanceof DormouseConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
