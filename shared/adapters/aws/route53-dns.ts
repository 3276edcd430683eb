import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
  type ResourceRecordSet,
  type RRType,
} from '@aws-sdk/client-route-53';
import { ForeignResourceError } from '../../domain/errors.js';
import type { Dns } from '../../ports/dns.js';

/** A shard's load balancer as a Route 53 alias names it. */
export interface ShardLoadBalancer {
  /** The ALB's DNS name, `<name>-<id>.<region>.elb.amazonaws.com`. */
  dnsName: string;
  /** The ALB's canonical hosted zone (one per region), which the alias target must name. */
  hostedZoneId: string;
}

export interface Route53DnsOptions {
  /** The zone of the tenants' domain. */
  hostedZoneId: string;
  /** Tenants are `<slug>.<domain>`. */
  domain: string;
  /**
   * This installation's load balancers, in shard order: the only alias targets a tenant record
   * may have. Or a function that reads them when first needed (shardLoadBalancers).
   */
  loadBalancers: readonly ShardLoadBalancer[] | (() => Promise<readonly ShardLoadBalancer[]>);
  /** The load balancers answer over IPv6 too, so each tenant also gets an AAAA alias. @default false */
  dualstack?: boolean;
  client?: Route53Client;
  /** How long the first change of a burst waits for others to share its request. @default 50 ms */
  batchWindowMs?: number;
  /** Attempts of one request while Route 53 throttles it or is busy with the previous one. @default 6 */
  attempts?: number;
  /** First retry delay, doubled each time, with full jitter. @default 200 ms */
  backoffBaseMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Changes per ChangeResourceRecordSets request. Route 53 allows 1 000 record elements per request
 * and counts each of an UPSERT twice: 500 changes always fit.
 */
export const MAX_CHANGES_PER_REQUEST = 500;

/** Route 53's "slow down" answers: its per-account rate (5 requests/s), or the zone still applying a change. */
const BUSY = new Set(['Throttling', 'ThrottlingException', 'PriorRequestNotComplete']);

interface Pending {
  changes: Change[];
  /** For CREATE changes: what to do instead when Route 53 answers that a record already exists. */
  ifExists?: () => Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** How Route 53 names, in an InvalidChangeBatch, each record a CREATE found already there. */
const ALREADY_EXISTS = /Tried to create resource record set \[name='([^']+)', type='([A-Z]+)'[^\]]*\] but it already exists/g;

/**
 * Each tenant's alias record in Route 53, `<slug>.<domain>` → its shard's load balancer.
 *
 * Route 53 takes ChangeResourceRecordSets at 5 requests a second per account, so the changes of
 * concurrent calls (a burst of wakes, a sweep) wait a short window and go out together, up to
 * MAX_CHANGES_PER_REQUEST in one request; a request Route 53 throttles (its rate counts every
 * request, reads too), or refuses while the zone applies an earlier change, is retried with
 * jittered backoff.
 *
 * A record of a tenant's name is only changed or removed while it aliases one of this
 * installation's load balancers: a record made by hand, or by another installation sharing the
 * zone, is refused, never taken over. A new tenant's record is made with CREATE, which Route 53
 * refuses for a name that already has one, so the common case reads nothing first: only the
 * records its answer names are read, to change them (UPSERT) when they are this installation's.
 */
export class Route53Dns implements Dns {
  private readonly client: Route53Client;
  private readonly loadBalancers: () => Promise<readonly ShardLoadBalancer[]>;
  private readonly types: RRType[];
  private readonly windowMs: number;
  private readonly attempts: number;
  private readonly backoffBaseMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: Route53DnsOptions) {
    this.client = options.client ?? new Route53Client({});
    const { loadBalancers } = options;
    this.loadBalancers = typeof loadBalancers === 'function' ? loadBalancers : () => Promise.resolve(loadBalancers);
    this.types = options.dualstack ? ['A', 'AAAA'] : ['A'];
    this.windowMs = options.batchWindowMs ?? 50;
    this.attempts = options.attempts ?? 6;
    this.backoffBaseMs = options.backoffBaseMs ?? 200;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** `acme.trials.example.com.`: the fully qualified name, as Route 53 lists it. */
  recordName(tenantId: string): string {
    return `${tenantId}.${this.options.domain.replace(/\.$/, '')}.`.toLowerCase();
  }

  async ensureRecord(tenantId: string, shard: number): Promise<void> {
    const loadBalancers = await this.loadBalancers();
    const target = loadBalancers[shard];
    if (!target) throw new RangeError(`No load balancer for shard ${shard}: this installation has ${loadBalancers.length}`);
    const name = this.recordName(tenantId);
    const creates = this.types.map((type): Change => ({ Action: 'CREATE', ResourceRecordSet: aliasRecord(name, type, target) }));
    await this.change(creates, () => this.repoint(tenantId, name, target, loadBalancers));
  }

  /** Points existing records of the name at `target`, once read and found to be this installation's. */
  private async repoint(tenantId: string, name: string, target: ShardLoadBalancer, loadBalancers: readonly ShardLoadBalancer[]) {
    const changes: Change[] = [];
    for (const type of this.types) {
      const current = await this.ownRecord(tenantId, name, type, loadBalancers);
      if (current?.AliasTarget && comparable(current.AliasTarget.DNSName) === comparable(target.dnsName)) continue;
      changes.push({ Action: 'UPSERT', ResourceRecordSet: aliasRecord(name, type, target) });
    }
    if (changes.length > 0) await this.change(changes);
  }

  async removeRecord(tenantId: string): Promise<void> {
    const loadBalancers = await this.loadBalancers();
    const name = this.recordName(tenantId);
    const changes: Change[] = [];
    for (const type of this.types) {
      const current = await this.ownRecord(tenantId, name, type, loadBalancers);
      // Route 53 deletes only a record given with its exact current values.
      if (current) changes.push({ Action: 'DELETE', ResourceRecordSet: current });
    }
    if (changes.length > 0) await this.change(changes);
  }

  /** The record of that name and type, or undefined; one that is not an alias to this installation's load balancers is refused. */
  private async ownRecord(
    tenantId: string,
    name: string,
    type: RRType,
    loadBalancers: readonly ShardLoadBalancer[],
  ): Promise<ResourceRecordSet | undefined> {
    const listed = await this.retrying(() =>
      this.client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: this.options.hostedZoneId,
          StartRecordName: name,
          StartRecordType: type,
          MaxItems: 1,
        }),
      ),
    );
    // The listing starts at the name, or at the next one in Route 53's order when there is none.
    const record = listed.ResourceRecordSets?.find((set) => comparable(set.Name) === comparable(name) && set.Type === type);
    if (!record) return undefined;
    if (!isOurs(record, loadBalancers)) {
      throw new ForeignResourceError('DNS record', `${name} (${type})`, tenantId, { tenantId: undefined, installation: undefined });
    }
    return record;
  }

  /** Queues `changes` for the next request, which leaves when the window closes. */
  private change(changes: Change[], ifExists?: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ changes, ifExists, resolve, reject });
      this.flushing ??= this.flushSoon();
    });
  }

  private async flushSoon(): Promise<void> {
    await this.sleep(this.windowMs);
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      await this.send(batch);
    }
    this.flushing = undefined;
  }

  /**
   * The queued calls that fit in one request. A name may appear only once in a request, so a
   * second change of the same record waits for the next.
   */
  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    const names = new Set<string>();
    let count = 0;
    const rest: Pending[] = [];
    for (const pending of this.queue) {
      const keys = pending.changes.map((c) => `${c.ResourceRecordSet?.Name} ${c.ResourceRecordSet?.Type}`);
      const fits = count + pending.changes.length <= MAX_CHANGES_PER_REQUEST && keys.every((key) => !names.has(key));
      if (fits) {
        batch.push(pending);
        keys.forEach((key) => names.add(key));
        count += pending.changes.length;
      } else {
        rest.push(pending);
      }
    }
    this.queue = rest;
    return batch;
  }

  /**
   * Sends one request for the batch. Route 53 applies a request whole or not at all. When it
   * refuses CREATEs of records that already exist, it names them: those calls go on to read
   * their records, and the others are sent again in the next request. When a call's change is
   * invalid otherwise (a record changed since it was read), each call is sent on its own and
   * only that one fails.
   */
  private async send(batch: Pending[]): Promise<void> {
    try {
      await this.request(batch.flatMap((pending) => pending.changes));
      batch.forEach((pending) => pending.resolve());
    } catch (error) {
      if ((error as Error).name !== 'InvalidChangeBatch') {
        batch.forEach((pending) => pending.reject(error));
        return;
      }
      const existing = alreadyExisting(error);
      const clashing = batch.filter((pending) => pending.ifExists && pending.changes.some((change) => existing.has(keyOf(change))));
      if (clashing.length > 0) {
        for (const pending of clashing) pending.ifExists!().then(pending.resolve, pending.reject);
        this.queue.unshift(...batch.filter((pending) => !clashing.includes(pending)));
      } else if (batch.length === 1) {
        batch[0]!.reject(error);
      } else {
        for (const pending of batch) await this.send([pending]);
      }
    }
  }

  private async request(changes: Change[]): Promise<void> {
    await this.retrying(() =>
      this.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: this.options.hostedZoneId,
          ChangeBatch: { Comment: 'Dormouse tenants', Changes: changes },
        }),
      ),
    );
  }

  /** Route 53's 5 requests a second per account count reads too: both are retried while it says to slow down. */
  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!BUSY.has((error as Error).name) || attempt >= this.attempts) throw error;
        await this.sleep(this.random() * this.backoffBaseMs * 2 ** (attempt - 1));
      }
    }
  }
}

function aliasRecord(name: string, type: RRType, target: ShardLoadBalancer): ResourceRecordSet {
  return {
    Name: name,
    Type: type,
    AliasTarget: { DNSName: target.dnsName, HostedZoneId: target.hostedZoneId, EvaluateTargetHealth: false },
  };
}

/** A record's name and type, as compared with those an InvalidChangeBatch names. */
function keyOf(change: Change): string {
  return `${comparable(change.ResourceRecordSet?.Name)} ${change.ResourceRecordSet?.Type}`;
}

/**
 * The records an InvalidChangeBatch says a CREATE found already there: Route 53 lists each
 * problem in `messages` and joins them in `message`, as
 * `[Tried to create resource record set [name='acme.example.com.', type='A'] but it already exists]`.
 */
function alreadyExisting(error: unknown): Set<string> {
  const { message, messages } = error as { message?: string; messages?: string[] };
  const text = [...(messages ?? []), message ?? ''].join('\n');
  return new Set([...text.matchAll(ALREADY_EXISTS)].map(([, name, type]) => `${comparable(name)} ${type}`));
}

/** Whether the record is a plain alias to one of this installation's load balancers. */
function isOurs(record: ResourceRecordSet, loadBalancers: readonly ShardLoadBalancer[]): boolean {
  const alias = record.AliasTarget;
  if (!alias || record.SetIdentifier !== undefined) return false;
  return loadBalancers.some((lb) => comparable(lb.dnsName) === comparable(alias.DNSName) && lb.hostedZoneId === alias.HostedZoneId);
}

/** DNS names compare without case, trailing dot, or the `dualstack.` prefix Route 53 adds to ELB aliases. */
function comparable(name: string | undefined): string {
  return (name ?? '')
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^dualstack\./, '');
}
