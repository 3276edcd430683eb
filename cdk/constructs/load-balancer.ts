import { Annotations, ArnFormat, Duration, Fn, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { SubnetType, type IVpc } from 'aws-cdk-lib/aws-ec2';
import {
  ApplicationListener,
  ApplicationLoadBalancer,
  ApplicationProtocol,
  ApplicationTargetGroup,
  ListenerAction,
  ListenerCertificate,
  ListenerCondition,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { LambdaTarget } from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnPermission, type Function as LambdaFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { ARecord, HostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import { LoadBalancerTarget } from 'aws-cdk-lib/aws-route53-targets';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CATCH_ALL_RULE_PRIORITY } from '../../shared/adapters/aws/elb-routing.js';
import { INSTALLATION_TAG, targetGroupPrefix } from '../../shared/adapters/common/names.js';
import { acknowledge, acknowledgeWildcardResources } from '../nag.js';
import { addSettings } from '../settings.js';

export interface LoadBalancerProps {
  readonly vpc: IVpc;
  /** Root domain of tenant hosts. */
  readonly domain: string;
  /** ACM certificate for `*.<domain>`. @default none: plain HTTP on port 80 (demo mode) */
  readonly certificateArn?: string;
  /** Zone that gets a `*.<domain>` alias record. @default no DNS record */
  readonly hostedZone?: { readonly id: string; readonly name: string };
  /** An existing bucket that accepts ALB access logs. @default a bucket of this construct */
  readonly accessLogsBucket?: string;
  /** Days a log file is kept in the construct's own bucket. @default 90 */
  readonly accessLogsDays?: number;
  /**
   * Which shard this load balancer routes, of how many, when tenants are spread over several;
   * shards after the first share the first one's access log bucket and wake target group names.
   * @default the only one
   */
  readonly shard?: { readonly index: number; readonly first: LoadBalancer };
}

/**
 * The internet-facing ALB in front of every tenant. One listener holds one host rule per
 * active tenant (the reconciler adds and removes them); a tenant host without a rule falls
 * through to a last, catch-all rule for `*.<domain>`, which is where a sleeping tenant gets
 * woken: `routeUnknownHostsTo` (the wake function). Any other host (the bare address, another
 * domain) gets the default action, a fixed 404 that costs nothing and says nothing.
 */
export class LoadBalancer extends Construct {
  readonly loadBalancer: ApplicationLoadBalancer;
  /** The listener tenant host rules are added to. */
  readonly listener: ApplicationListener;
  readonly https: boolean;
  /** Where the ALB writes its access logs. */
  readonly accessLogs: IBucket;
  /** The wake target group's name is this plus `-wake` (the first shard) or `-wk<shard>`. */
  readonly wakeNameBase: string;
  private readonly domain: string;
  private readonly shardIndex: number;
  /** Every shard's wake target group is held to these names (`<wakeNameBase>-w*` with several). */
  private readonly wakeNamePattern: string | undefined;
  /** The Lambda target group of the default action, once `routeUnknownHostsTo` has set it. */
  private unknownHostsTargetGroup?: ApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    this.https = props.certificateArn !== undefined;
    this.loadBalancer = new ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      internetFacing: true,
      dropInvalidHeaderFields: true,
    });
    acknowledge(
      this.loadBalancer,
      'AwsSolutions-EC23',
      'The ALB serves tenant apps to the public internet, so its ports 80 and 443 are open to all; nothing else is.',
    );
    this.domain = props.domain;
    this.shardIndex = props.shard?.index ?? 0;
    this.wakeNameBase = props.shard?.first.wakeNameBase ?? Names.uniqueResourceName(this, { maxLength: 27 });
    this.wakeNamePattern = props.shard ? `${this.wakeNameBase}-w*` : undefined;
    if (props.shard) {
      // The first shard's bucket, each shard under a prefix of its own.
      this.accessLogs = props.shard.first.accessLogs;
      this.loadBalancer.logAccessLogs(this.accessLogs, `dormouse-shard${this.shardIndex}`);
    } else {
      this.accessLogs = props.accessLogsBucket
        ? Bucket.fromBucketName(this, 'AccessLogs', props.accessLogsBucket)
        : this.accessLogsBucket(props.accessLogsDays ?? 90);
      // Also grants the region's ELB log delivery account (or service) write on the prefix.
      this.loadBalancer.logAccessLogs(this.accessLogs, 'dormouse');
    }

    if (props.certificateArn) {
      this.listener = this.loadBalancer.addListener('Https', {
        protocol: ApplicationProtocol.HTTPS,
        port: 443,
        certificates: [ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: SslPolicy.RECOMMENDED_TLS,
        open: true,
      });
      this.loadBalancer.addRedirect({
        sourceProtocol: ApplicationProtocol.HTTP,
        sourcePort: 80,
        targetProtocol: ApplicationProtocol.HTTPS,
        targetPort: 443,
      });
    } else {
      this.listener = this.loadBalancer.addListener('Http', {
        protocol: ApplicationProtocol.HTTP,
        port: 80,
        open: true,
      });
      Annotations.of(this).addWarningV2(
        'dormouse:http-only',
        'No dormouse.certificateArn: tenants are served over plain HTTP (demo mode). Set an ACM certificate for ' +
          `*.${props.domain} before real users sign up.`,
      );
    }

    if (props.hostedZone) {
      const zone = HostedZone.fromHostedZoneAttributes(this, 'Zone', {
        hostedZoneId: props.hostedZone.id,
        zoneName: props.hostedZone.name,
      });
      new ARecord(this, 'TenantHosts', {
        zone,
        recordName: `*.${props.domain}`,
        target: RecordTarget.fromAlias(new LoadBalancerTarget(this.loadBalancer)),
        comment: 'Dormouse tenants',
      });
    }
  }

  /**
   * Sends every request for `*.<domain>` whose host has no tenant rule to `fn` (the wake
   * function), through a Lambda target group, by a catch-all rule with the lowest priority
   * (50000; tenant rules stay below it). The listener's default action answers everything
   * else with a plain 404, so hosts that cannot name a tenant never invoke the function. The
   * target group counts against the ALB's 100, which is why `maxActiveTenants` stops at 99.
   */
  routeUnknownHostsTo(fn: IFunction): ApplicationTargetGroup {
    if (this.unknownHostsTargetGroup) throw new Error('The load balancer already routes unknown hosts to a function');
    // Named, so that the invoke permission can name it before it exists; unique per installation.
    const targetGroupName = this.shardIndex === 0 ? `${this.wakeNameBase}-wake` : `${this.wakeNameBase}-wk${this.shardIndex}`;
    const targetGroup = new ApplicationTargetGroup(this, 'UnknownHosts', { targetGroupName, targets: [new LambdaTarget(fn)] });
    // Single-valued headers, which the wake handler reads (it copes with either). Off is the
    // service default, but `multiValueHeadersEnabled: false` writes nothing: stated here instead.
    targetGroup.setAttribute('lambda.multi_value_headers.enabled', 'false');
    this.listener.addAction('NotATenant', {
      action: ListenerAction.fixedResponse(404, { contentType: 'text/plain', messageBody: 'Not Found' }),
    });
    this.listener.addAction('UnknownHosts', {
      priority: CATCH_ALL_RULE_PRIORITY,
      conditions: [ListenerCondition.hostHeaders([`*.${this.domain}`])],
      action: ListenerAction.forward([targetGroup]),
    });
    // With several shards one permission (Lambda keeps one per principal) serves every shard's group.
    this.restrictInvokeToTargetGroup(fn, this.wakeNamePattern ?? targetGroupName);
    this.unknownHostsTargetGroup = targetGroup;
    return targetGroup;
  }

  /**
   * `LambdaTarget` grants elasticloadbalancing.amazonaws.com the invoke permission (the group
   * waits for it) with no source: any target group in any account could name the function.
   * The permission is held to this account and to the group's name. (Its ARN cannot be used:
   * the group depends on the permission, so the permission cannot refer back to the group.)
   */
  private restrictInvokeToTargetGroup(fn: IFunction, targetGroupName: string): void {
    const stack = Stack.of(this);
    const permissions = fn.node.children.filter(
      (child): child is CfnPermission => child instanceof CfnPermission && child.principal === 'elasticloadbalancing.amazonaws.com',
    );
    if (permissions.length === 0) throw new Error('No load balancer invoke permission found on the wake function');
    for (const permission of permissions) {
      permission.sourceAccount = stack.account;
      permission.sourceArn = stack.formatArn({
        service: 'elasticloadbalancing',
        resource: 'targetgroup',
        resourceName: `${targetGroupName}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    }
  }

  /**
   * The stack's own access log bucket: S3-managed encryption (the only kind ALB log delivery
   * writes to), TLS only, no public access, and objects that expire. Kept when the stack is
   * deleted, like the tables: logs are records of who came.
   */
  private accessLogsBucket(days: number): Bucket {
    const bucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(days) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      bucket,
      'AwsSolutions-S1',
      'This bucket holds the load balancer access logs itself; logging access to it would need yet another bucket, and only the ALB writes here.',
    );
    return bucket;
  }

  /** `app/<name>/<id>`: the LoadBalancer dimension of the ALB's CloudWatch metrics. */
  get fullName(): string {
    return this.loadBalancer.loadBalancerFullName;
  }

  get dnsName(): string {
    return this.loadBalancer.loadBalancerDnsName;
  }
}

/**
 * Lets `fn` read tenant traffic from the load balancers' CloudWatch metrics. It reads their
 * LoadBalancer dimension, `app/<name>/<id>`, off the listener ARNs that bindRouting tells it.
 */
export function bindActivity(fn: LambdaFunction, shards: readonly LoadBalancer[]): void {
  const readMetrics = new PolicyStatement({
    sid: 'ReadTenantActivity',
    actions: ['cloudwatch:GetMetricData'],
    resources: ['*'],
  });
  fn.addToRolePolicy(readMetrics);
  if (fn.role) {
    acknowledgeWildcardResources(
      fn.role,
      readMetrics,
      'cloudwatch:GetMetricData is read-only and IAM offers no resource-level scope or condition key for it, so it can only be granted on "*".',
    );
  }
}

/**
 * Lets `fn` add and remove tenant host rules on the load balancers (one per shard) and manage
 * the target groups of this installation (`dm-<installation>-*`), and tells it the listeners, in
 * shard order. Every write is also held by tag to this installation: what it creates must carry
 * the installation tag, and what it changes or deletes must already carry it, so neither a group
 * of another installation nor one made by hand with a matching name can be touched.
 */
export function bindRouting(fn: LambdaFunction, installation: string, shards: readonly LoadBalancer[]): void {
  const stack = Stack.of(fn);
  const elb = (resource: string, resourceName: string) =>
    stack.formatArn({ service: 'elasticloadbalancing', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
  // Rule ids are generated by ELB; the pattern holds them to these load balancers' listeners.
  const rules = shards.map((shard) => elb('listener-rule', `${shard.fullName}/*/*`));
  const targetGroups = elb('targetgroup', `${targetGroupPrefix(installation)}*/*`);
  const taggedOnCreate = { [`aws:RequestTag/${INSTALLATION_TAG}`]: installation };
  const alreadyTagged = { StringEquals: { [`aws:ResourceTag/${INSTALLATION_TAG}`]: installation } };
  const statements = {
    createRule: new PolicyStatement({
      sid: 'CreateTenantRules',
      actions: ['elasticloadbalancing:CreateRule'],
      resources: shards.map((shard) => shard.listener.listenerArn),
      conditions: { StringEquals: taggedOnCreate },
    }),
    deleteRule: new PolicyStatement({
      sid: 'DeleteTenantRules',
      actions: ['elasticloadbalancing:DeleteRule'],
      resources: rules,
      conditions: alreadyTagged,
    }),
    createTargetGroups: new PolicyStatement({
      sid: 'CreateTenantTargetGroups',
      actions: ['elasticloadbalancing:CreateTargetGroup'],
      resources: [targetGroups],
      conditions: { StringEquals: taggedOnCreate },
    }),
    targetGroups: new PolicyStatement({
      sid: 'ManageTenantTargetGroups',
      actions: [
        'elasticloadbalancing:DeleteTargetGroup',
        'elasticloadbalancing:ModifyTargetGroupAttributes',
        'elasticloadbalancing:RegisterTargets',
        'elasticloadbalancing:DeregisterTargets',
      ],
      resources: [targetGroups],
      conditions: alreadyTagged,
    }),
    tagOnCreate: new PolicyStatement({
      sid: 'TagTenantRoutingOnCreate',
      actions: ['elasticloadbalancing:AddTags'],
      resources: [targetGroups, ...rules],
      conditions: {
        StringEquals: { 'elasticloadbalancing:CreateAction': ['CreateTargetGroup', 'CreateRule'], ...taggedOnCreate },
      },
    }),
    describe: new PolicyStatement({
      sid: 'DescribeRouting',
      actions: [
        'elasticloadbalancing:DescribeRules',
        'elasticloadbalancing:DescribeTags',
        'elasticloadbalancing:DescribeTargetGroups',
        'elasticloadbalancing:DescribeTargetHealth',
      ],
      resources: ['*'],
    }),
  };
  for (const statement of Object.values(statements)) fn.addToRolePolicy(statement);
  if (fn.role) {
    acknowledgeWildcardResources(
      fn.role,
      statements.deleteRule,
      'Rule ids are generated by ELB; the ARN pattern holds deletes to rules of this load balancer, the tag condition to those of this installation.',
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.createTargetGroups,
      `Target groups are created per tenant at run time; the ARN pattern holds them to names of this installation (${targetGroupPrefix(installation)}*), the tag condition to groups tagged with it.`,
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.targetGroups,
      `Target groups are created per tenant at run time; the ARN pattern holds the function to groups named ${targetGroupPrefix(installation)}*, the tag condition to those tagged with this installation.`,
    );
    acknowledgeWildcardResources(
      fn.role,
      statements.tagOnCreate,
      'Tags only as part of creating a target group or a rule of this installation (elasticloadbalancing:CreateAction and aws:RequestTag conditions).',
    );
    acknowledgeWildcardResources(fn.role, statements.describe, 'ELBv2 Describe* actions are read-only and have no resource-level scope.');
  }
  // The first listener's ARN in full, the others' only as their end: the loader completes them
  // with the first's start (Lambda holds the whole environment to 4 KB).
  addSettings(fn, {
    DORMOUSE_LISTENER_ARN: shards.map((shard, index) =>
      index === 0 ? shard.listener.listenerArn : Fn.join('/', [shard.fullName, Fn.select(4, Fn.split('/', shard.listener.listenerArn))]),
    ),
  });
}

/** Where tenants' own records go when there are several shards. */
export interface TenantRecordsProps {
  /** The Route 53 zone holding `<domain>`. */
  readonly hostedZoneId: string;
  /** Tenants are `<slug>.<domain>`. */
  readonly domain: string;
}

/**
 * Lets `fn` give each tenant its own alias record, `<slug>.<domain>` → its shard's load
 * balancer, tells it the zone, and lets it describe the load balancers (their DNS names). Route 53 scopes its permissions to a
 * hosted zone only, so conditions hold the changes to the records Dormouse makes: names under
 * `*.<domain>`, A and AAAA records, CREATE, UPSERT and DELETE (never another type, never the
 * zone's apex, NS or MX records). CREATE makes a new tenant's record without reading first, as
 * Route 53 refuses it for a name that has one. The adapter itself also refuses any record of a
 * tenant's name that aliases something other than these load balancers.
 */
export function bindTenantRecords(fn: LambdaFunction, props: TenantRecordsProps): void {
  const zone = Stack.of(fn).formatArn({
    service: 'route53',
    region: '',
    account: '',
    resource: 'hostedzone',
    resourceName: props.hostedZoneId,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
  fn.addToRolePolicy(
    new PolicyStatement({
      sid: 'ChangeTenantRecords',
      actions: ['route53:ChangeResourceRecordSets'],
      resources: [zone],
      conditions: {
        // Route 53 gives these names in lowercase, without the final dot.
        'ForAllValues:StringLike': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`*.${props.domain.toLowerCase()}`] },
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsRecordTypes': ['A', 'AAAA'],
          'route53:ChangeResourceRecordSetsActions': ['CREATE', 'UPSERT', 'DELETE'],
        },
      },
    }),
  );
  fn.addToRolePolicy(new PolicyStatement({ sid: 'ReadTenantRecords', actions: ['route53:ListResourceRecordSets'], resources: [zone] }));
  // What a record aliases (each shard's DNS name and zone) is read at cold start, off the
  // listener ARNs the function is given: passed in, twenty of them would not fit in 4 KB.
  const describeLoadBalancers = new PolicyStatement({
    sid: 'ReadShardLoadBalancers',
    actions: ['elasticloadbalancing:DescribeLoadBalancers'],
    resources: ['*'],
  });
  fn.addToRolePolicy(describeLoadBalancers);
  if (fn.role) {
    acknowledgeWildcardResources(
      fn.role,
      describeLoadBalancers,
      'DescribeLoadBalancers is read-only and has no resource-level scope; the function asks only for the load balancers of its own listeners.',
    );
  }
  addSettings(fn, { DORMOUSE_HOSTED_ZONE_ID: props.hostedZoneId });
}
