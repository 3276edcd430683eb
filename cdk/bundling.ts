/**
 * How Dormouse's Lambda functions are bundled, as plain values: the CDK construct passes them to
 * esbuild, and the benchmarks build the same bundles from them without loading aws-cdk-lib.
 */

/** Lets bundled ESM code call `require`, which some CommonJS dependencies still do for Node built-ins. */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __dmCreateRequire } from 'node:module'; const require = __dmCreateRequire(import.meta.url);";

/**
 * Modules replaced in the bundles (esbuild `alias`): package → file, relative to the repository
 * root. Every AWS SDK client imports the SDK's whole default credential chain; on Lambda only its
 * first link, the environment, ever answers, but esbuild inlines the rest (SSO, profiles, web
 * identity, instance metadata and the STS and SSO clients they load): a third of the wake
 * bundle, parsed at every cold start.
 */
export const LAMBDA_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': './shared/adapters/aws/lambda-credentials.ts',
};
