/**
 * Layer rules, checked by `npm test` (depcruise runs before vitest).
 *
 *   shared/domain     the model: pure rules and value types. Imports only itself, and node:crypto
 *                     for hashing (names, digests) - no I/O.
 *   shared/ports      the contracts the application needs from the outside world. Imports only the
 *                     domain (the value types it passes) and itself.
 *   shared/app        the use cases. Imports the domain and the ports, and node:crypto,
 *                     node:perf_hooks and node:timers/promises (ids, tokens, timings, pauses) -
 *                     never an adapter, so every use case runs over the fakes, the local
 *                     adapters and the AWS adapters alike.
 *   shared/adapters   aws/ talks to AWS, local/ is embedded mode, common/ holds what both share
 *                     (the resource names and tags). aws/ and local/ do not import each other,
 *                     with one exception: embedded mode's composition root (local/embedded.ts and
 *                     local/control-plane.ts, which wires the store, stream and bus) uses the real
 *                     DynamoDB adapter, because embedded mode runs on DynamoDB Local.
 *   lambdas/          entry points only; nothing imports them.
 *   cli/              the operator's `dormouse` command, a client of the HTTP API: it talks to the
 *                     API (and to CloudFormation to find it), never to the use cases or the store.
 *
 * The AWS SDK is imported only by the adapters (which include the AWS composition root,
 * shared/adapters/aws/composition/), the Lambda entry points, the CDK app, the bench, the CLI and
 * the tests.
 */

/**
 * The embedded-mode composition root, the in-memory front it puts on the DynamoDB adapter and its
 * claim on the tenant table: may wire the AWS DynamoDB adapter to DynamoDB Local.
 */
const EMBEDDED_ROOT = '^shared/adapters/local/(embedded|control-plane|cached-tenant-store|table-claim)[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-imports-only-domain',
      comment: 'The domain is the model: it depends on nothing but itself (and node:crypto).',
      severity: 'error',
      from: { path: '^shared/domain/' },
      to: { pathNot: ['^shared/domain/', '^crypto$'] },
    },
    {
      name: 'ports-import-only-domain',
      comment: "A port describes what the application needs in the domain's terms.",
      severity: 'error',
      from: { path: '^shared/ports/' },
      to: { pathNot: ['^shared/ports/', '^shared/domain/'] },
    },
    {
      name: 'app-imports-only-domain-and-ports',
      comment: 'Use cases reach the outside world only through ports, so any adapter can stand behind them.',
      severity: 'error',
      from: { path: '^shared/app/' },
      to: { pathNot: ['^shared/app/', '^shared/domain/', '^shared/ports/', '^crypto$', '^perf_hooks$', '^timers/promises$'] },
    },
    {
      name: 'nothing-imports-lambdas',
      comment: 'lambdas/ holds entry points for the Lambda bundles; shared code lives in shared/.',
      severity: 'error',
      from: {},
      to: { path: '^lambdas/' },
    },
    {
      name: 'cli-is-a-client-of-the-api',
      comment: 'The CLI reaches tenants only through the HTTP API, as an operator would: never through the use cases or the store.',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^(shared/app|shared/ports|shared/adapters/aws|lambdas|cdk|bench|test)/' },
    },
    {
      name: 'only-tests-import-the-cli',
      comment: 'cli/ holds an entry point; what the rest of the project needs does not live there.',
      severity: 'error',
      from: { pathNot: '^(cli|test)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'aws-adapters-do-not-import-local',
      comment: 'The AWS adapters know nothing of embedded mode.',
      severity: 'error',
      from: { path: '^shared/adapters/aws/' },
      to: { path: '^shared/adapters/local/' },
    },
    {
      name: 'local-adapters-do-not-import-aws',
      comment: 'Local adapters stand on their own; only the embedded composition root wires the DynamoDB adapter.',
      severity: 'error',
      from: { path: '^shared/adapters/local/', pathNot: EMBEDDED_ROOT },
      to: { path: '^shared/adapters/aws/' },
    },
    {
      name: 'aws-sdk-only-in-adapters',
      comment: 'Everything else sees AWS through ports and domain errors.',
      severity: 'error',
      from: { pathNot: '^(shared/adapters|lambdas|cdk|bench|cli|test)/' },
      to: { path: '(^|/)node_modules/@aws-sdk/' },
    },
    {
      name: 'imports-resolve',
      comment: 'An import the cruiser cannot resolve would slip past every rule above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
