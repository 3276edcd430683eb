import {
  ChangeResourceRecordSetsCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
  ThrottlingException,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import type { Change, ChangeResourceRecordSetsCommandInput, ListResourceRecordSetsCommandInput } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_CHANGES_PER_REQUEST, Route53Dns } from '../../shared/adapters/aws/route53-dns.js';
import { ForeignResourceError } from '../../shared/domain/errors.js';

const route53 = mockClient(Route53Client);

const ZONE = 'Z0123456789TENANTS';
const ELB_ZONE = 'Z35SXDOTRQ7X7K';
const SHARD_0 = 'dorm-shard0-1234567890.us-east-1.elb.amazonaws.com';
const SHARD_1 = 'dorm-shard1-2345678901.us-east-1.elb.amazonaws.com';
const OTHER = 'other-install-999.us-east-1.elb.amazonaws.com';
const ACME = 'acme.trials.example.com.';

const meta = { $metadata: {} };
const noWait = async () => {};

function dns(options: Partial<ConstructorParameters<typeof Route53Dns>[0]> = {}) {
  return new Route53Dns({
    hostedZoneId: ZONE,
    domain: 'trials.example.com',
    loadBalancers: [
      { dnsName: SHARD_0, hostedZoneId: ELB_ZONE },
      { dnsName: SHARD_1, hostedZoneId: ELB_ZONE },
    ],
    client: new Route53Client({}),
    sleep: noWait,
    random: () => 0.5,
    ...options,
  });
}

/** An alias record as Route 53 lists it: fully qualified, lowercase, `dualstack.` before an ELB name. */
function alias(name: string, target: string, type: 'A' | 'AAAA' = 'A'): ResourceRecordSet {
  return { Name: name, Type: type, AliasTarget: { DNSName: `dualstack.${target}.`, HostedZoneId: ELB_ZONE, EvaluateTargetHealth: false } };
}

function listed(...records: ResourceRecordSet[]) {
  return { ...meta, ResourceRecordSets: records, IsTruncated: false, MaxItems: 1 };
}

const lookUp = (type: 'A' | 'AAAA' = 'A', name = ACME): ListResourceRecordSetsCommandInput => ({
  HostedZoneId: ZONE,
  StartRecordName: name,
  StartRecordType: type,
  MaxItems: 1,
});

const aliasChange =
  (action: 'CREATE' | 'UPSERT') =>
  (name: string, target: string, type: 'A' | 'AAAA' = 'A') => ({
    Action: action,
    ResourceRecordSet: { Name: name, Type: type, AliasTarget: { DNSName: target, HostedZoneId: ELB_ZONE, EvaluateTargetHealth: false } },
  });
const create = aliasChange('CREATE');
const upsert = aliasChange('UPSERT');

/** Route 53's answer to CREATEs of records that exist: each named in `messages`, all of them in `message`. */
function alreadyExist(...records: Array<[name: string, type?: 'A' | 'AAAA']>): InvalidChangeBatch {
  const messages = records.map(
    ([name, type = 'A']) => `Tried to create resource record set [name='${name}', type='${type}'] but it already exists`,
  );
  return new InvalidChangeBatch({ message: `[${messages.join(', ')}]`, messages, $metadata: {} });
}

const changeRequest = (...changes: Change[]): ChangeResourceRecordSetsCommandInput => ({
  HostedZoneId: ZONE,
  ChangeBatch: { Comment: 'Dormouse tenants', Changes: changes },
});

function sentChanges(): ChangeResourceRecordSetsCommandInput[] {
  return route53.commandCalls(ChangeResourceRecordSetsCommand).map((call) => call.args[0].input);
}

function sentLookUps(): ListResourceRecordSetsCommandInput[] {
  return route53.commandCalls(ListResourceRecordSetsCommand).map((call) => call.args[0].input);
}

const changed = { ...meta, ChangeInfo: { Id: '/change/C1', Status: 'PENDING' as const, SubmittedAt: new Date(0) } };

beforeEach(() => {
  route53.reset();
  route53.on(ListResourceRecordSetsCommand).resolves(listed());
  route53.on(ChangeResourceRecordSetsCommand).resolves(changed);
});

describe('Route 53 tenant records', () => {
  it("creates an alias A record <slug>.<domain> to the tenant's shard load balancer, reading nothing first", async () => {
    await dns().ensureRecord('acme', 1);

    expect(sentLookUps()).toStrictEqual([]);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_1))]);
  });

  it('reads a record only when Route 53 says it exists, and changes nothing when it already aliases the shard', async () => {
    route53.on(ChangeResourceRecordSetsCommand).rejects(alreadyExist([ACME]));
    route53.on(ListResourceRecordSetsCommand).resolves(listed(alias(ACME, SHARD_1)));

    await dns().ensureRecord('acme', 1);

    expect(sentLookUps()).toStrictEqual([lookUp('A')]);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_1))]);
  });

  it("moves a record from one of the installation's shards to another", async () => {
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(alreadyExist([ACME]))
      .resolves(changed);
    route53.on(ListResourceRecordSetsCommand).resolves(listed(alias(ACME, SHARD_0)));

    await dns().ensureRecord('acme', 1);

    expect(sentLookUps()).toStrictEqual([lookUp('A')]);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_1)), changeRequest(upsert(ACME, SHARD_1))]);
  });

  it('creates the record when it is gone by the time it is read (the listing starts at the next name)', async () => {
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(alreadyExist([ACME]))
      .resolves(changed);
    route53.on(ListResourceRecordSetsCommand).resolves(listed(alias('acme2.trials.example.com.', OTHER)));

    await dns().ensureRecord('acme', 0);

    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_0)), changeRequest(upsert(ACME, SHARD_0))]);
  });

  it("refuses a record of the tenant's name that aliases another installation's load balancer", async () => {
    route53.on(ChangeResourceRecordSetsCommand).rejects(alreadyExist([ACME]));
    route53.on(ListResourceRecordSetsCommand).resolves(listed(alias(ACME, OTHER)));

    await expect(dns().ensureRecord('acme', 0)).rejects.toBeInstanceOf(ForeignResourceError);
    await expect(dns().removeRecord('acme')).rejects.toBeInstanceOf(ForeignResourceError);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_0))]);
  });

  it("refuses a plain A record of the tenant's name (made by hand), named in Route 53's message alone", async () => {
    const { message } = alreadyExist([ACME]);
    route53.on(ChangeResourceRecordSetsCommand).rejects(new InvalidChangeBatch({ message, $metadata: {} }));
    route53
      .on(ListResourceRecordSetsCommand)
      .resolves(listed({ Name: ACME, Type: 'A', TTL: 300, ResourceRecords: [{ Value: '203.0.113.7' }] }));

    await expect(dns().ensureRecord('acme', 0)).rejects.toThrow(/DNS record acme\.trials\.example\.com\. \(A\) belongs to another/);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_0))]);
  });

  it('refuses a shard it has no load balancer for', async () => {
    await expect(dns().ensureRecord('acme', 2)).rejects.toThrow(RangeError);
    expect(route53.calls()).toHaveLength(0);
  });

  it('adds an AAAA alias too when the load balancers are dualstack', async () => {
    await dns({ dualstack: true }).ensureRecord('acme', 0);

    expect(sentLookUps()).toStrictEqual([]);
    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_0), create(ACME, SHARD_0, 'AAAA'))]);
  });

  it('deletes the record with its exact current values', async () => {
    const current = alias(ACME, SHARD_1);
    route53.on(ListResourceRecordSetsCommand).resolves(listed(current));

    await dns().removeRecord('acme');

    expect(sentChanges()).toStrictEqual([changeRequest({ Action: 'DELETE', ResourceRecordSet: current })]);
  });

  it('removes nothing for a tenant with no record', async () => {
    await dns().removeRecord('acme');

    expect(sentLookUps()).toStrictEqual([lookUp('A')]);
    expect(sentChanges()).toStrictEqual([]);
  });

  it('sends the changes of a burst of tenants in one request', async () => {
    const adapter = dns();

    await Promise.all(['a1', 'a2', 'a3'].map((slug, i) => adapter.ensureRecord(slug, i % 2)));

    expect(sentLookUps()).toStrictEqual([]);
    expect(sentChanges()).toStrictEqual([
      changeRequest(
        create('a1.trials.example.com.', SHARD_0),
        create('a2.trials.example.com.', SHARD_1),
        create('a3.trials.example.com.', SHARD_0),
      ),
    ]);
  });

  it('in a burst with a record of ours and a foreign one, reads only those two and creates the new ones in the next request', async () => {
    const ours = 'ours.trials.example.com.';
    const foreign = 'foreign.trials.example.com.';
    const existing = new Set([ours, foreign]);
    route53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
      const clashes = (input.ChangeBatch?.Changes ?? []).filter(
        (change) => change.Action === 'CREATE' && existing.has(change.ResourceRecordSet!.Name!),
      );
      if (clashes.length > 0) throw alreadyExist(...clashes.map((change): [string] => [change.ResourceRecordSet!.Name!]));
      return changed;
    });
    route53.on(ListResourceRecordSetsCommand, lookUp('A', ours)).resolves(listed(alias(ours, SHARD_0)));
    route53.on(ListResourceRecordSetsCommand, lookUp('A', foreign)).resolves(listed(alias(foreign, OTHER)));
    const adapter = dns();

    const results = await Promise.allSettled(['new1', 'ours', 'foreign', 'new2'].map((slug) => adapter.ensureRecord(slug, 1)));

    expect(results.map((result) => result.status)).toStrictEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(ForeignResourceError);
    expect(sentLookUps()).toStrictEqual([lookUp('A', ours), lookUp('A', foreign)]);
    expect(sentChanges()).toStrictEqual([
      changeRequest(
        create('new1.trials.example.com.', SHARD_1),
        create(ours, SHARD_1),
        create(foreign, SHARD_1),
        create('new2.trials.example.com.', SHARD_1),
      ),
      changeRequest(create('new1.trials.example.com.', SHARD_1), create('new2.trials.example.com.', SHARD_1)),
      changeRequest(upsert(ours, SHARD_1)),
    ]);
  });

  it(`splits a burst into requests of at most ${MAX_CHANGES_PER_REQUEST} changes`, async () => {
    const adapter = dns();
    const slugs = Array.from({ length: MAX_CHANGES_PER_REQUEST + 1 }, (_, i) => `t${i}`);

    await Promise.all(slugs.map((slug) => adapter.ensureRecord(slug, 0)));

    expect(sentChanges().map((request) => request.ChangeBatch?.Changes?.length)).toStrictEqual([MAX_CHANGES_PER_REQUEST, 1]);
  });

  it('never puts two changes of one record in the same request', async () => {
    const adapter = dns();

    await Promise.all([adapter.ensureRecord('acme', 0), adapter.ensureRecord('acme', 1)]);

    expect(sentChanges()).toStrictEqual([changeRequest(create(ACME, SHARD_0)), changeRequest(create(ACME, SHARD_1))]);
  });

  it('retries a throttled request, and one refused while the previous change is applied, after jittered waits', async () => {
    const waits: number[] = [];
    route53
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }))
      .rejectsOnce(
        new PriorRequestNotComplete({
          message: 'The request was rejected because Route 53 was still processing a prior request.',
          $metadata: {},
        }),
      )
      .resolves(changed);
    const adapter = dns({
      batchWindowMs: 10,
      backoffBaseMs: 100,
      random: () => 0.25,
      sleep: async (ms) => void waits.push(ms),
    });

    await adapter.ensureRecord('acme', 0);

    expect(sentChanges()).toStrictEqual([1, 2, 3].map(() => changeRequest(create(ACME, SHARD_0))));
    // The batch window, then a quarter of 100 and of 200 ms.
    expect(waits).toStrictEqual([10, 25, 50]);
  });

  it('retries a throttled read too: the rate counts every Route 53 request', async () => {
    route53
      .on(ListResourceRecordSetsCommand)
      .rejectsOnce(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }))
      .resolves(listed(alias(ACME, SHARD_0)));

    await dns().removeRecord('acme');

    expect(sentLookUps()).toStrictEqual([lookUp('A'), lookUp('A')]);
    expect(sentChanges()).toStrictEqual([changeRequest({ Action: 'DELETE', ResourceRecordSet: alias(ACME, SHARD_0) })]);
  });

  it('gives up on throttling after its attempts, with the error for the caller', async () => {
    route53.on(ChangeResourceRecordSetsCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }));

    await expect(dns({ attempts: 3 }).ensureRecord('acme', 0)).rejects.toBeInstanceOf(ThrottlingException);
    expect(sentChanges()).toHaveLength(3);
  });

  it("fails only the call whose change Route 53 refuses, when a burst's request is refused whole", async () => {
    const bad = changeRequest({ Action: 'DELETE', ResourceRecordSet: alias('gone.trials.example.com.', SHARD_0) });
    route53
      .on(ListResourceRecordSetsCommand, lookUp('A', 'gone.trials.example.com.'))
      .resolves(listed(alias('gone.trials.example.com.', SHARD_0)));
    route53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
      if (input.ChangeBatch?.Changes?.some((change) => change.Action === 'DELETE')) {
        throw new InvalidChangeBatch({
          message: "[Tried to delete resource record set [name='gone.trials.example.com.', type='A'] but it was not found]",
          $metadata: {},
        });
      }
      return changed;
    });
    // A window long enough for the removal's read to end, so that both share the first request.
    const adapter = dns({ batchWindowMs: 20, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });

    const results = await Promise.allSettled([adapter.ensureRecord('acme', 0), adapter.removeRecord('gone')]);

    expect(results.map((result) => result.status)).toStrictEqual(['fulfilled', 'rejected']);
    expect(sentChanges()).toStrictEqual([
      changeRequest(create(ACME, SHARD_0), bad.ChangeBatch!.Changes![0]!),
      changeRequest(create(ACME, SHARD_0)),
      bad,
    ]);
  });
});
