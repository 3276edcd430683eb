import { ECSClient, ECSServiceException, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client, ElasticLoadBalancingV2ServiceException } from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTenantStore } from '../../shared/adapters/aws/dynamodb-tenant-store.js';
import { translateAwsError } from '../../shared/adapters/aws/aws-errors.js';
import { reconcilerDeps } from '../../shared/adapters/aws/composition/reconcile.js';
import { reconcile } from '../../shared/app/reconcile.js';
import { loadReconcilerConfig } from '../../shared/config.js';
import { CloudRefusedError, CloudUnavailableError } from '../../shared/domain/errors.js';
import { newTenant } from '../../shared/domain/tenant.js';
import { createTestTables } from '../support/dynamodb.js';
import { reconcilerEnv } from '../support/reconciler-env.js';
import { ManualClock } from '../support/reconciler-world.js';

const ecs = mockClient(ECSClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const meta = { $metadata: { httpStatusCode: 400, requestId: 'r-1' } };

const ROLE = 'arn:aws:sts::111122223333:assumed-role/dormouse-ReconcileRole-1X2Y3Z/dormouse-reconcile';
const accessDenied = () =>
  new ECSServiceException({
    name: 'AccessDeniedException',
    $fault: 'client',
    ...meta,
    message: `User: ${ROLE} is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:eu-west-1:111122223333:task-definition/dormouse-tenant:3 because no identity-based policy allows the ecs:RunTask action`,
  });

beforeEach(() => {
  ecs.reset();
  elb.reset();
});

describe('translateAwsError', () => {
  it('turns an IAM denial into a refusal that names the denied action and what to check', () => {
    const translated = translateAwsError(accessDenied(), 'runTask');

    expect(translated).toBeInstanceOf(CloudRefusedError);
    expect((translated as Error).message).toMatch(
      /^Dormouse is not allowed to start tasks \(ecs:RunTask was denied\); check the reconciler's IAM role \(AWS said: AccessDeniedException: User: arn:aws:sts::111122223333:/,
    );
    expect((translated as Error).cause).toBeInstanceOf(ECSServiceException);
  });

  it.each([
    ['ValidationError', 'ensureTargetGroup', /AWS refused the request to create target groups as invalid \(CreateTargetGroup\)/],
    ['InvalidParameterException', 'runTask', /AWS refused the request to start tasks as invalid \(RunTask\)/],
    ['UnauthorizedOperation', 'createRule', /Dormouse is not allowed to create listener rules \(CreateRule was denied\)/],
  ])('turns %s from %s into a refusal', (name, method, sentence) => {
    const error = Object.assign(new Error('The request is wrong.'), { name, ...meta });

    const translated = translateAwsError(error, method);

    expect(translated).toBeInstanceOf(CloudRefusedError);
    expect((translated as Error).message).toMatch(sentence);
  });

  it.each([
    ['ThrottlingException', 400],
    ['Throttling', 400],
    ['ServiceUnavailableException', 503],
    ['InternalError', 500],
    ['SomethingNew', 502],
    ['TimeoutError', undefined],
  ])('turns %s (HTTP %s) into a retry-later error', (name, httpStatusCode) => {
    const error = Object.assign(new Error('Try later'), { name, $metadata: { httpStatusCode } });

    expect(translateAwsError(error, 'runTask')).toBeInstanceOf(CloudUnavailableError);
  });

  it('names the denied ELBv2 action of a denied CreateTargetGroup', () => {
    const denied = new ElasticLoadBalancingV2ServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      ...meta,
      message: 'User is not authorized to perform: elasticloadbalancing:CreateTargetGroup',
    });

    const translated = translateAwsError(denied, 'ensureTargetGroup');

    expect(translated).toBeInstanceOf(CloudRefusedError);
    expect((translated as Error).message).toMatch(
      /not allowed to create target groups \(elasticloadbalancing:CreateTargetGroup was denied\)/,
    );
  });

  it.each([
    ['ThrottlingException', 'ensure'],
    ['InternalServerError', 'ensure'],
    ['TooManyRequestsException', 'remove'],
    ['ServiceException', 'remove'],
    ['ResourceConflictException', 'remove'],
  ])('reads EFS and Lambda %s as "try again later"', (name, method) => {
    const error = Object.assign(new Error('busy'), { name, ...meta });

    expect(translateAwsError(error, method)).toBeInstanceOf(CloudUnavailableError);
  });

  it.each([
    ['AccessPointLimitExceeded', 'ensure', 'prepare the tenant’s data volume'],
    ['FileSystemNotFound', 'ensure', 'prepare the tenant’s data volume'],
    ['BadRequest', 'managedTenants', 'list tenant data volumes'],
    ['ResourceNotFoundException', 'remove', 'delete the tenant’s data'],
    ['AccessDeniedException', 'remove', 'delete the tenant’s data'],
  ])('reads EFS and Lambda %s as a refusal that names what Dormouse was doing', (name, method, doing) => {
    const error = Object.assign(new Error('no'), { name, ...meta });

    const translated = translateAwsError(error, method);

    expect(translated).toBeInstanceOf(CloudRefusedError);
    expect((translated as Error).message).toContain(doing);
  });

  it('leaves errors the adapters report themselves as they are', () => {
    const notFound = Object.assign(new Error('gone'), { name: 'TargetGroupNotFoundException', ...meta });

    expect(translateAwsError(notFound, 'targets')).toBe(notFound);
  });
});

describe('the reconciler wired to ECS and ELBv2', () => {
  async function world() {
    const tables = await createTestTables();
    const config = loadReconcilerConfig(reconcilerEnv({ DORMOUSE_TABLE_NAME: tables.tenantTable, DORMOUSE_MAX_RESTARTS: '2' }));
    const clock = new ManualClock();
    const deps = {
      ...reconcilerDeps(config, {
        dynamoClient: tables.client,
        ecsClient: new ECSClient({ maxAttempts: 1 }),
        elbClient: new ElasticLoadBalancingV2Client({ maxAttempts: 1 }),
      }),
      clock,
      random: () => 0.5,
    };
    const tenant = newTenant({
      slug: 'acme',
      email: 'ann@acme.test',
      plan: 'trial',
      tokenHash: '0'.repeat(64),
      now: clock.now(),
      trialDays: 14,
    });
    const store = new DynamoDbTenantStore({ tableName: tables.tenantTable, client: tables.documentClient });
    await store.create(tenant, { maxTenants: 10 });
    /** Reconciles as the sweep would: again once the recorded retry time has come. */
    async function reconcileUntilSettled(rounds = 20) {
      for (let round = 0; round < rounds; round++) {
        await reconcile(deps, 'acme');
        const current = (await deps.store.get('acme'))!;
        if (current.status.phase === 'Failed' && !current.status.slot) return;
        clock.advance(current.status.retryAt ? Math.max(1_000, Date.parse(current.status.retryAt) - clock.now().getTime()) : 20_000);
      }
    }
    return { deps, store, config, reconcileUntilSettled };
  }

  it('marks the tenant Failed after the restart limit when RunTask is denied, and frees its routing slot', async () => {
    const { deps, store, config, reconcileUntilSettled } = await world();
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    ecs.on(RunTaskCommand).rejects(accessDenied());

    await reconcileUntilSettled();

    const tenant = (await deps.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Failed', slot: false, attempts: config.maxRestarts + 1, lastErrorCategory: 'platform' });
    expect(tenant.status.lastError).toMatch(
      /^Dormouse is not allowed to start tasks \(ecs:RunTask was denied\); check the reconciler's IAM role/,
    );
    expect(ecs).toHaveReceivedCommandTimes(RunTaskCommand, config.maxRestarts + 1);
    expect(await store.countRoutingSlots()).toBe(0);
    // The same client token every time: a retry of one launch, never a second task.
    const tokens = new Set(ecs.commandCalls(RunTaskCommand).map((call) => call.args[0].input.clientToken));
    expect(tokens).toEqual(new Set(['acme-g1-r1']));
  });

  it('keeps a tenant whose RunTask is throttled Provisioning with its slot, however long it lasts', async () => {
    const { deps, config, reconcileUntilSettled } = await world();
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    ecs
      .on(RunTaskCommand)
      .rejects(new ECSServiceException({ name: 'ThrottlingException', $fault: 'client', ...meta, message: 'Rate exceeded' }));

    await reconcileUntilSettled();

    const tenant = (await deps.store.get('acme'))!;
    expect(tenant.status).toMatchObject({ phase: 'Provisioning', slot: true, attempts: 0 });
    expect(tenant.status.lastError).toBeUndefined();
    expect(ecs.commandCalls(RunTaskCommand).length).toBeGreaterThan(config.maxRestarts + 1);
  });
});
