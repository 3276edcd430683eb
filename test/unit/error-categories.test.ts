import { describe, expect, it } from 'vitest';
import { ERROR_CATEGORIES, publicReason } from '../../shared/domain/error-categories.js';
import { explainStop, stopCategory } from '../../shared/domain/stop-reasons.js';
import type { ObservedTask } from '../../shared/ports/compute.js';

const task = (fields: Partial<ObservedTask>): ObservedTask => ({
  arn: 'arn:aws:ecs:eu-west-1:123456789012:task/dormouse/1',
  tenantId: 'acme',
  lastStatus: 'STOPPED',
  desiredStatus: 'STOPPED',
  capacityProvider: 'FARGATE_SPOT',
  ...fields,
});

describe('publicReason', () => {
  it('gives every category a fixed sentence that quotes nothing of the error', () => {
    const lastError = 'postgres://app:S3cretPassw0rd@db/app arn:aws:iam::123456789012:role/x';
    const sentences = ERROR_CATEGORIES.map((category) => publicReason({ phase: 'Failed', lastError, lastErrorCategory: category }));

    expect(new Set(sentences).size).toBe(ERROR_CATEGORIES.length);
    for (const sentence of sentences) expect(sentence).not.toMatch(/S3cret|postgres|arn:|123456789012/);
  });

  it('says something plain about an error recorded without a category, and nothing when there is no error', () => {
    expect(publicReason({ phase: 'Failed', lastError: 'secret stuff' })).toBe('The application did not start.');
    expect(publicReason({ phase: 'Provisioning', lastError: 'secret stuff' })).toBe(
      'Starting takes longer than usual; it is being retried.',
    );
    expect(publicReason({ phase: 'Running' })).toBeUndefined();
  });
});

describe('stopCategory', () => {
  it.each([
    [task({ stoppedReason: 'CannotPullContainerError: pull image manifest unknown' }), 'not-started'],
    [task({ stoppedReason: 'ResourceInitializationError: unable to pull secrets' }), 'not-started'],
    [task({ stoppedReason: 'Task failed container health checks' }), 'unhealthy'],
    [task({ stoppedReason: 'Essential container in task exited', exitCode: 1 }), 'stopped'],
    [task({ stoppedReason: 'OutOfMemoryError: Container killed due to memory usage', exitCode: 137 }), 'stopped'],
  ])('puts %# in the category its explanation belongs to', (stopped, category) => {
    expect(stopCategory(stopped)).toBe(category);
    expect(explainStop(stopped)).toBeTruthy();
  });
});
