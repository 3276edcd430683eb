import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SWEEP_SERVICE, TENANTS_STUCK_METRIC } from '../../shared/events/metrics.js';
import { acknowledge } from '../nag.js';

export interface OperatorAlertsProps {
  /** Subscribed to the topic. @default no subscription: subscribe to the topic yourself */
  readonly email?: string;
}

export interface FunctionErrorsAlarmProps {
  /** What is wrong when the alarm fires, in a sentence for the operator. */
  readonly what: string;
  /** Length of one datapoint. @default 1 minute */
  readonly period?: Duration;
  /** Consecutive datapoints with at least one error before the alarm fires. @default 3 */
  readonly datapoints?: number;
}

export interface StuckTenantsAlarmProps {
  /** The sweep's threshold, for the alarm's description. */
  readonly stuckMinutes: number;
  /** How often the sweep runs, and so reports. @default 1 minute */
  readonly period?: Duration;
}

export interface FileSystemSizeAlarmProps {
  readonly fileSystemId: string;
  /** The alarm fires above this size (all storage classes together). */
  readonly thresholdGiB: number;
}

/**
 * Where Dormouse tells its operators that something needs a person: the alarm topic, the
 * dead-letter queues whose every message is such a thing, and alarms on functions that fail.
 */
export class OperatorAlerts extends Construct {
  readonly topic: ITopic;

  constructor(scope: Construct, id: string, props: OperatorAlertsProps = {}) {
    super(scope, id);
    const topic = new Topic(this, 'Topic', {
      displayName: 'Dormouse alarms',
      enforceSSL: true,
    });
    acknowledge(
      topic,
      'AwsSolutions-SNS2',
      'CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key ' +
        'would cost more than everything else at rest here; the messages name queues and tenant ids, never secrets.',
    );
    if (props.email) topic.addSubscription(new EmailSubscription(props.email));
    this.topic = topic;
  }

  /**
   * An encrypted queue for what an asynchronous path could not deliver or process, with an
   * alarm as soon as one message is in it: each one is a tenant change nobody acted on.
   */
  deadLetterQueue(id: string, what: string): IQueue {
    const queue = new Queue(this, id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows, so a message outlives a long weekend.
      retentionPeriod: Duration.days(14),
    });
    acknowledge(queue, 'AwsSolutions-SQS3', 'This queue is itself a dead-letter queue; nothing consumes it automatically.');
    const alarm = new Alarm(this, `${id}NotEmpty`, {
      alarmDescription: `${what} Inspect the messages in the queue, fix the cause, then redrive or delete them.`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    return queue;
  }

  /**
   * An alarm when `fn` reports at least one error (its Lambda `Errors` metric) in each of a few
   * consecutive periods: a single failure the next run or request gets over is not worth a page.
   */
  alarmOnErrors(id: string, fn: IFunction, props: FunctionErrorsAlarmProps): Alarm {
    const datapoints = props.datapoints ?? 3;
    const alarm = new Alarm(this, id, {
      alarmDescription: `${props.what} See the function's log group for the errors.`,
      metric: fn.metricErrors({ period: props.period ?? Duration.minutes(1), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: datapoints,
      datapointsToAlarm: datapoints,
      // No invocations, no errors.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    return alarm;
  }

  /**
   * An alarm as soon as the sweep reports a tenant stuck in a passing phase: retries that never
   * end (AWS refusing a cleanup, a task that never gets healthy) raise no function error and
   * leave no dead letter, so only this tells a person.
   */
  alarmOnStuckTenants(id: string, props: StuckTenantsAlarmProps): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription:
        `A tenant has been Pending, Provisioning, Waking, Passivating or Deleting for more than ${props.stuckMinutes} minutes. ` +
        'The sweep function logs "Tenant stuck" with its id, phase and last error; GET /admin/tenants shows the same.',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: TENANTS_STUCK_METRIC,
        dimensionsMap: { service: SWEEP_SERVICE },
        period: props.period ?? Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No sweep run in a period is not news of a stuck tenant; the sweep's own alarms cover that.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    return alarm;
  }

  /**
   * An alarm when the tenant file system grows past a size: EFS has no quota per access point,
   * so one tenant could fill it (and the bill) for everyone; this tells a person in time.
   */
  alarmOnFileSystemSize(id: string, props: FileSystemSizeAlarmProps): Alarm {
    const alarm = new Alarm(this, id, {
      alarmDescription:
        `The tenant file system holds more than ${props.thresholdGiB} GiB (dormouse.storageAlarmGiB). EFS sets no quota per tenant: ` +
        'find the largest directories under /tenants (each is a tenant id) and delete or contact that tenant, or raise the threshold.',
      metric: new Metric({
        namespace: 'AWS/EFS',
        metricName: 'StorageBytes',
        dimensionsMap: { FileSystemId: props.fileSystemId, StorageClass: 'Total' },
        // EFS reports the metered size every 15 minutes.
        period: Duration.minutes(15),
        statistic: 'Maximum',
      }),
      threshold: props.thresholdGiB * 1024 ** 3,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // A missing report is not news of a full file system.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    return alarm;
  }
}
