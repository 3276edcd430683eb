/**
 * The SDK's default credential provider as Dormouse's Lambda bundles have it (see
 * cdk/bundling.ts): Lambda puts the function role's credentials in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, the first place the SDK's own chain looks. Outside
 * the bundles (tests, `npm start`) the SDK's full chain applies.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
