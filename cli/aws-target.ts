import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { CliError, EXIT } from './errors.js';
import { joinPath, parseApiUrl } from './local-target.js';
import type { Target } from './target.js';

type Credentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

/**
 * A Dormouse stack on AWS: its API from the stack's `ApiUrl` output, admin calls SigV4-signed
 * (execute-api) with the operator's credentials from the SDK's standard chain (environment,
 * profile, SSO, instance role…), the same ones the CloudFormation client used to find the stack.
 */
export async function stackTarget({
  stackName,
  cloudFormation = new CloudFormationClient({}),
  fetch = globalThis.fetch,
}: {
  stackName: string;
  cloudFormation?: CloudFormationClient;
  fetch?: typeof globalThis.fetch;
}): Promise<Target> {
  const region = await resolveRegion(cloudFormation);
  const apiUrl = await findApiUrl(cloudFormation, stackName, region);
  return {
    name: `stack ${stackName} (${apiUrl.origin})`,
    authHint: `check your AWS credentials (AWS_PROFILE, aws sso login) and that your role or user is in the stack's adminPrincipals`,
    forward: signingForwarder({ apiUrl, region, credentials: cloudFormation.config.credentials, fetch }),
  };
}

/**
 * Sends a request to the API on AWS as an admin: `/tenants…` goes to `/admin/tenants…` (behind
 * the IAM authorizer) and is signed; anything else (`/plans`, `/healthz`) is public and is sent
 * unsigned, because a public route would read a SigV4 `Authorization` header as a bad token.
 */
export function signingForwarder({
  apiUrl,
  region,
  credentials,
  fetch = globalThis.fetch,
}: {
  apiUrl: URL;
  region: string;
  credentials: Credentials;
  fetch?: typeof globalThis.fetch;
}): (request: Request) => Promise<Response> {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return async (request) => {
    const incoming = new URL(request.url);
    const admin = incoming.pathname === '/tenants' || incoming.pathname.startsWith('/tenants/');
    const url = joinPath(apiUrl, admin ? `/admin${incoming.pathname}` : incoming.pathname, incoming.search);
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text();
    const headers: Record<string, string> = {};
    for (const name of ['accept', 'content-type', 'idempotency-key']) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    if (!admin) return fetch(url, { method: request.method, headers, body, signal: request.signal });

    const signed = await signer
      .sign({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: queryOf(url),
        // The host header is signed; fetch sends the same one from the URL.
        headers: { ...headers, host: url.host },
        body,
      })
      .catch((error: unknown) => {
        throw new CliError(`No AWS credentials to sign with (${messageOf(error)}): set AWS_PROFILE or run aws sso login.`, EXIT.denied, {
          cause: error,
        });
      });
    const { host: _host, ...sent } = signed.headers;
    return fetch(url, { method: request.method, headers: sent, body, signal: request.signal });
  };
}

function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return query;
}

async function resolveRegion(cloudFormation: CloudFormationClient): Promise<string> {
  try {
    return await cloudFormation.config.region();
  } catch (error) {
    throw new CliError('No AWS region: pass --region or set AWS_REGION (or a region in your AWS profile).', EXIT.usage, { cause: error });
  }
}

/**
 * The stack's API address. The stack is trusted only if it looks like a Dormouse stack (it has
 * the `Installation` output) and the address is HTTPS, or plain HTTP on loopback.
 */
async function findApiUrl(cloudFormation: CloudFormationClient, stackName: string, region: string): Promise<URL> {
  let outputs: Output[];
  try {
    const answer = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = answer.Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    throw stackError(error, stackName, region);
  }
  const output = (key: string) => outputs.find((candidate) => candidate.OutputKey === key)?.OutputValue;
  const apiUrl = output('ApiUrl');
  if (!apiUrl || !output('Installation')) {
    throw new CliError(
      `Stack ${stackName} in ${region} is not a Dormouse stack (no ApiUrl or Installation output): check --stack.`,
      EXIT.notFound,
    );
  }
  const url = parseApiUrl(apiUrl);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !loopback) {
    throw new CliError(`Stack ${stackName}'s ApiUrl ${apiUrl} is not HTTPS: the CLI will not send signed requests over it.`, EXIT.refused);
  }
  return url;
}

/** CloudFormation's errors, said once in terms of what the operator can do. */
function stackError(error: unknown, stackName: string, region: string): CliError {
  const name = error instanceof Error ? error.name : '';
  const message = messageOf(error);
  if (name === 'ValidationError' && /does not exist/.test(message)) {
    return new CliError(`No stack named ${stackName} in ${region}: check --stack and --region.`, EXIT.notFound, { cause: error });
  }
  if (name === 'CredentialsProviderError') {
    return new CliError(`No AWS credentials found: set AWS_PROFILE or run aws sso login.`, EXIT.denied, { cause: error });
  }
  if (/AccessDenied|ExpiredToken|InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch/.test(name)) {
    return new CliError(
      `AWS refused to describe stack ${stackName} (${name}): check your credentials and cloudformation:DescribeStacks.`,
      EXIT.denied,
      { cause: error },
    );
  }
  return new CliError(`Could not describe stack ${stackName} in ${region}: ${message}`, EXIT.unavailable, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
