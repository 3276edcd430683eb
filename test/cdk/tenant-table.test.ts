import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { TenantTable } from '../../cdk/constructs/tenant-table.js';

describe('TenantTable construct', () => {
  it('has the sparse warm index the sweep reads sleepers by, and lets the sweep query it', () => {
    // Prepare
    const stack = new Stack(new App(), 'Test');
    const tables = new TenantTable(stack, 'Tables');
    const sweep = new LambdaFunction(stack, 'Sweep', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: Code.fromInline('x'),
    });

    // Act
    tables.bindTenantStore(sweep);
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayWith([
        {
          IndexName: 'byWarmAt',
          KeySchema: [
            { AttributeName: 'warmKey', KeyType: 'HASH' },
            { AttributeName: 'warmAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ]),
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'warmKey', AttributeType: 'S' },
        { AttributeName: 'warmAt', AttributeType: 'S' },
      ]),
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<{ Sid?: string; Resource: unknown }>,
    );
    const indexes = statements.find((statement) => statement.Sid === 'TenantStoreIndexes');
    expect(JSON.stringify(indexes?.Resource)).toContain('/index/byWarmAt');
  });

  it("lets the reconciler and the wake function read every shard's slot counter in one BatchGetItem, only with several shards", () => {
    // Prepare
    const stack = new Stack(new App(), 'Test');
    const tables = new TenantTable(stack, 'Tables');
    const fn = (id: string) =>
      new LambdaFunction(stack, id, { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('x') });

    // Act
    tables.bindTenantStore(fn('Reconciler'), { shards: 3 });
    tables.bindWakeStore(fn('Wake'), { shards: 3 });
    const template = Template.fromStack(stack);

    // Assess
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<{ Sid?: string; Action: string[]; Condition?: unknown }>,
    );
    expect(statements.find((statement) => statement.Sid === 'TenantStore')?.Action).toContain('dynamodb:BatchGetItem');
    const wakeReads = statements.find((statement) => statement.Sid === 'ReadTenantsAndSlots');
    expect(wakeReads?.Action).toEqual(['dynamodb:GetItem', 'dynamodb:BatchGetItem']);
    expect(wakeReads?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tenant#*', 'counter#routing', 'counter#routing#*'] },
    });
    // The recent wake durations, and no other item, read and written whole.
    expect(statements.find((statement) => statement.Sid === 'RecentWakeTimes')).toMatchObject({
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['stats#wake-times'] } },
    });
  });
});
