import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Logger } from '@aws-lambda-powertools/logger';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import * as z from 'zod';
import { toObservedTask, type EcsTaskShape } from '../adapters/aws/ecs-compute.js';
import { handleTaskEvent, type TaskEventDeps, type TaskEventOutcome } from '../app/task-event.js';

/** An "ECS Task State Change" event: `detail` is the task as DescribeTasks shows it, plus `version`. */
export const TaskStateChangeSchema = EventBridgeSchema.extend({
  detail: z.object({ taskArn: z.string(), version: z.number().int() }).passthrough(),
});
export type TaskStateChangeEvent = z.infer<typeof TaskStateChangeSchema>;

export function createTaskEventsHandler(deps: TaskEventDeps, logger: Logger) {
  return middy<TaskStateChangeEvent, TaskEventOutcome | 'not-a-tenant'>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(parser({ schema: TaskStateChangeSchema }))
    .handler(async (event) => {
      const task = toObservedTask(event.detail as unknown as EcsTaskShape);
      if (!task) return 'not-a-tenant';
      logger.appendKeys({ tenantId: task.tenantId, taskArn: task.arn });
      const outcome = await handleTaskEvent(deps, { task, version: event.detail.version });
      logger.info('Task state change', { outcome, lastStatus: task.lastStatus, stopCode: task.stopCode, version: event.detail.version });
      return outcome;
    });
}
