import { translatingAwsErrors } from '../../shared/adapters/aws/aws-errors.js';
import { CloudWatchActivity } from '../../shared/adapters/aws/cloudwatch-activity.js';
import { EcsCompute } from '../../shared/adapters/aws/ecs-compute.js';
import { EfsStorage } from '../../shared/adapters/aws/efs-storage.js';
import { ElbRouting } from '../../shared/adapters/aws/elb-routing.js';
import { EventBridgePublisher } from '../../shared/adapters/aws/eventbridge-publisher.js';
import {
  AwsModel,
  BASE_TASK_DEFINITION,
  CLEANER_FUNCTION,
  CLUSTER,
  FILE_SYSTEM_ID,
  LISTENER_ARNS,
  LOAD_BALANCER_FULL_NAMES,
  VPC_ID,
  type WorldTimings,
} from './aws-model.js';

/** Quick enough that a test moves a task from RunTask to RUNNING in a few steps of the clock. */
export const TEST_TIMINGS: WorldTimings = {
  provisioningMs: 5_000,
  pendingMs: 5_000,
  healthyAfterMs: 10_000,
  stoppingMs: 10_000,
  drainingMs: 15_000,
};

/** The AWS model on a clock the test moves by hand. */
export function manualAwsModel(start = Date.parse('2026-11-21T10:00:00.000Z')) {
  let time = start;
  const model = new AwsModel({ now: () => time, timings: TEST_TIMINGS });
  return {
    model,
    now: () => new Date(time),
    /** Moves the clock on and lets the model catch up with it. */
    advance(ms: number): void {
      time += ms;
      model.settle();
    },
  };
}

/** The AWS adapters as the Lambdas wire them (errors translated), over the model's SDK clients. */
export function awsAdaptersOver(model: AwsModel, installation: string, shards = 1) {
  return {
    compute: translatingAwsErrors(
      new EcsCompute({
        client: model.ecsClient,
        installation,
        cluster: CLUSTER,
        taskDefinition: BASE_TASK_DEFINITION,
        containerName: 'app',
        subnets: ['subnet-a'],
        securityGroups: ['sg-tenants'],
      }),
    ),
    routing: translatingAwsErrors(
      new ElbRouting({
        client: model.elbClient,
        installation,
        listenerArn: LISTENER_ARNS.slice(0, shards),
        vpcId: VPC_ID,
        port: 80,
        healthCheckPath: '/',
      }),
    ),
    storage: efsStorageOver(model, installation),
    activity: new CloudWatchActivity({ client: model.cloudWatchClient, loadBalancerFullName: LOAD_BALANCER_FULL_NAMES.slice(0, shards) }),
    publisher: new EventBridgePublisher({ client: model.eventsClient, busName: 'dormouse' }),
  };
}

/** EfsStorage as the Lambdas wire it (errors translated) over the model's file system, task definitions and cleaner. */
export function efsStorageOver(model: AwsModel, installation: string) {
  return translatingAwsErrors(
    new EfsStorage({
      efsClient: model.efsClient,
      ecsClient: model.ecsClient,
      lambdaClient: model.lambdaClient,
      installation,
      fileSystemId: FILE_SYSTEM_ID,
      baseTaskDefinition: BASE_TASK_DEFINITION,
      containerName: 'app',
      dataPath: '/data',
      dataFunction: CLEANER_FUNCTION,
    }),
  );
}
