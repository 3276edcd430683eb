import type { ObservedTask } from './task.js';
import type { ErrorCategory } from './error-categories.js';

/**
 * Turns ECS's stop details into a sentence a person can act on. The raw reason stays at the
 * end in brackets, for whoever has to search for it.
 */
export function explainStop(task: ObservedTask): string {
  const raw = [task.containerReason, task.stoppedReason].filter(Boolean).join('; ');
  const detail = raw ? ` (${raw})` : '';
  if (/CannotPullContainer|pull image|manifest unknown/i.test(raw)) {
    return `The tenant's container image could not be pulled. Check the image name and tag, and that the task execution role may pull it${detail}.`;
  }
  if (/ResourceInitializationError|secrets|ssm|secretsmanager/i.test(raw)) {
    return `The task could not be set up: a secret, log group or network resource was not reachable. Check the task execution role and the subnets' routes${detail}.`;
  }
  // Before the memory check: a container killed for failing health checks also exits with 137.
  if (/health check/i.test(raw)) {
    return `The application kept failing its health check. Check that it answers on the health check path and port${detail}.`;
  }
  if (/OutOfMemory|OOM/i.test(raw) || task.exitCode === 137) {
    return `The application ran out of memory and was killed. Give the task more memory or lower the application's use${detail}.`;
  }
  if (task.exitCode !== undefined && task.exitCode !== 0) {
    return `The application exited with code ${task.exitCode}. Check its logs${detail}.`;
  }
  if (/capacity/i.test(raw)) {
    return `AWS had no Fargate capacity for the task. Nothing to do: Dormouse retries, and moves to on-demand Fargate if the fallback is on${detail}.`;
  }
  return `The task stopped unexpectedly. Check the application's logs, then wake the tenant to try again${detail}.`;
}

export function isCapacityStop(task: ObservedTask): boolean {
  return /capacity is unavailable|insufficient capacity|no capacity/i.test(`${task.stoppedReason ?? ''}`);
}

/** What anonymous visitors are told about a stop: it never got going, or it stopped later. */
export function stopCategory(task: ObservedTask): ErrorCategory {
  const raw = [task.containerReason, task.stoppedReason].filter(Boolean).join('; ');
  if (/CannotPullContainer|pull image|manifest unknown|ResourceInitializationError|secrets|ssm|secretsmanager/i.test(raw))
    return 'not-started';
  if (/health check/i.test(raw)) return 'unhealthy';
  return 'stopped';
}
