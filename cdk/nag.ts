import { Stack, Validations } from 'aws-cdk-lib';
import type { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements. Each one names the rule (and, for wildcard findings, the exact
 * resource) it silences and says why, so a reviewer reads the reason next to the code.
 */

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for each wildcard resource of `statement`, which must be
 * attached to a policy under `scope`. cdk-nag names a wildcard finding by the resource as its
 * `flattenCfnReference` prints it, so the same flattening is applied here.
 */
export function acknowledgeWildcardResources(scope: IConstruct, statement: PolicyStatement, reason: string): void {
  const json = Stack.of(scope).resolve(statement.toStatementJson()) as { Resource?: unknown };
  const resources = json.Resource === undefined ? [] : Array.isArray(json.Resource) ? json.Resource : [json.Resource];
  for (const resource of resources) {
    const flat = flattenCfnReference(resource);
    if (flat.includes('*')) acknowledge(scope, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
  }
}

/** Mirrors cdk-nag's (unexported) `utils/flatten-cfn-reference`; the cdk-nag test proves they agree. */
export function flattenCfnReference(reference: unknown): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\${/g, '<').replace(/}/g, '>');
    if (typeof node === 'object' && node !== null) {
      const fn = node as Record<string, unknown>;
      if (fn['Fn::Join']) {
        const [delimiter, items] = fn['Fn::Join'] as [string, unknown[]];
        return items.map(visit).join(delimiter);
      }
      if (fn['Fn::Sub']) return visit(fn['Fn::Sub']);
      if (fn['Fn::GetAtt']) {
        const [resource, attribute] = fn['Fn::GetAtt'] as [unknown, unknown];
        return `<${visit(resource)}.${visit(attribute)}>`;
      }
      if (fn['Fn::ImportValue']) return visit(fn['Fn::ImportValue']);
      if (fn.Ref) return `<${visit(fn.Ref)}>`;
    }
    return JSON.stringify(node);
  };
  return visit(reference);
}
