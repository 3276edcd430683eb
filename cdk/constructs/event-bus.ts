import { ArnFormat, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { EventBus, RuleTargetInput, EventField, Rule, type IRuleTarget } from 'aws-cdk-lib/aws-events';
import { addToDeadLetterQueueResourcePolicy, bindBaseTargetConfig } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnPipe } from 'aws-cdk-lib/aws-pipes';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE, TENANT_FAILED } from '../../shared/domain/domain-events.js';
import { acknowledgeWildcardResources } from '../nag.js';
import type { OperatorAlerts } from './operator-alerts.js';
import type { TenantTable } from './tenant-table.js';

export interface DormouseEventBusProps {
  /** @default 'dormouse' */
  readonly busName?: string;
  readonly logRetention: RetentionDays;
  readonly alerts: OperatorAlerts;
}

/** Only tenant records become events: email claims and counters share the table. */
export const TENANT_RECORD_FILTER = { dynamodb: { NewImage: { kind: { S: ['tenant'] } } } };

/**
 * The custom bus "dormouse" and the path that feeds it: the tenant table's stream, through an
 * EventBridge Pipe, to the stream-publisher function that turns each change into domain events.
 * Handlers write only the table; this path is the only way events are made (no dual writes).
 */
export class DormouseEventBus extends Construct {
  readonly bus: EventBus;
  private readonly alerts: OperatorAlerts;
  private readonly logRetention: RetentionDays;

  constructor(scope: Construct, id: string, props: DormouseEventBusProps) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', { eventBusName: props.busName ?? EVENT_SOURCE });
    this.alerts = props.alerts;
    this.logRetention = props.logRetention;
  }

  get busName(): string {
    return this.bus.eventBusName;
  }

  /** Lets `grantee` put events on this bus only. */
  grantPutEventsTo(grantee: IGrantable): void {
    this.bus.grantPutEventsTo(grantee);
  }

  /**
   * Pipes the table's stream to `publisher`, tenant records only. A batch that still fails
   * after the retries is split until the bad record is alone, and that record is reported to
   * a dead-letter queue (as stream coordinates: the record itself stays in the stream for 24 h).
   */
  streamChanges(table: TenantTable, publisher: IFunction): CfnPipe {
    const dlq = this.alerts.deadLetterQueue(
      'StreamDlq',
      'Tenant table changes could not be published to the event bus, so the reconciler never heard of them.',
    );
    const logGroup = new LogGroup(this, 'PipeLogs', {
      retention: this.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stack = Stack.of(this);
    // Named, so that the role's trust can name the pipe (the pipe itself depends on the role).
    const pipeName = Names.uniqueResourceName(this, { maxLength: 64, separator: '-' });
    const role = new Role(this, 'PipeRole', {
      assumedBy: new ServicePrincipal('pipes.amazonaws.com', {
        conditions: {
          // Confused-deputy guard: only this pipe, in this account, may act with the role.
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({
              service: 'pipes',
              resource: 'pipe',
              resourceName: pipeName,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          },
        },
      }),
      description: 'Dormouse tenant table stream to the stream-publisher function',
    });
    role.addToPolicy(
      new PolicyStatement({
        sid: 'ReadTenantStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [table.streamArn],
      }),
    );
    const listStreams = new PolicyStatement({
      sid: 'ListStreams',
      actions: ['dynamodb:ListStreams'],
      resources: ['*'],
    });
    role.addToPolicy(listStreams);
    acknowledgeWildcardResources(role, listStreams, 'dynamodb:ListStreams is read-only and has no resource-level scope.');
    role.addToPolicy(
      new PolicyStatement({ sid: 'InvokePublisher', actions: ['lambda:InvokeFunction'], resources: [publisher.functionArn] }),
    );
    dlq.grantSendMessages(role);
    logGroup.grantWrite(role);

    const pipe = new CfnPipe(this, 'TableToPublisher', {
      name: pipeName,
      description: 'Tenant table stream to the Dormouse stream publisher',
      roleArn: role.roleArn,
      source: table.streamArn,
      sourceParameters: {
        filterCriteria: { filters: [{ pattern: JSON.stringify(TENANT_RECORD_FILTER) }] },
        dynamoDbStreamParameters: {
          // The table is new when the pipe is: reading from the start loses nothing written in between.
          startingPosition: 'TRIM_HORIZON',
          batchSize: 10,
          maximumBatchingWindowInSeconds: 1,
          maximumRetryAttempts: 10,
          onPartialBatchItemFailure: 'AUTOMATIC_BISECT',
          deadLetterConfig: { arn: dlq.queueArn },
        },
      },
      target: publisher.functionArn,
      targetParameters: { lambdaFunctionParameters: { invocationType: 'REQUEST_RESPONSE' } },
      logConfiguration: { level: 'ERROR', cloudwatchLogsLogDestination: { logGroupArn: logGroup.logGroupArn } },
    });
    // The pipe checks its permissions when it starts.
    pipe.node.addDependency(role);
    return pipe;
  }

  /** Tells the operators, by the alarm topic, each time a tenant enters the Failed phase. */
  notifyTenantFailures(): Rule {
    const dlq = this.alerts.deadLetterQueue('FailureNoticeDlq', 'A failed-tenant notice could not be sent to the alarm topic.');
    return new Rule(this, 'TenantFailed', {
      eventBus: this.bus,
      description: 'A tenant failed: tell the operators',
      eventPattern: { source: [EVENT_SOURCE], detailType: [TENANT_FAILED] },
      targets: [
        publishFromThisRuleOnly(this.alerts.topic, dlq, {
          message: RuleTargetInput.fromText(
            `Dormouse tenant ${EventField.fromPath('$.detail.tenantId')} failed: ${EventField.fromPath('$.detail.reason')}`,
          ),
        }),
      ],
    });
  }
}

/**
 * A rule target that publishes to `topic`. Unlike aws-events-targets' `SnsTopic`, whose topic
 * policy lets events.amazonaws.com publish on behalf of any rule of any account, the statement
 * it adds names the rule and this account (aws:SourceArn, aws:SourceAccount).
 */
function publishFromThisRuleOnly(topic: ITopic, deadLetterQueue: IQueue, props: { message: RuleTargetInput }): IRuleTarget {
  return {
    bind: (rule) => {
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: 'PublishFromTenantFailedRule',
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            ArnEquals: { 'aws:SourceArn': rule.ruleRef.ruleArn },
            StringEquals: { 'aws:SourceAccount': Stack.of(topic).account },
          },
        }),
      );
      addToDeadLetterQueueResourcePolicy(rule, deadLetterQueue);
      return {
        ...bindBaseTargetConfig({ deadLetterQueue, retryAttempts: 8 }),
        arn: topic.topicArn,
        input: props.message,
        targetResource: topic,
      };
    },
  };
}
