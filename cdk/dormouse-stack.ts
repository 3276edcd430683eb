import { Annotations, CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { installationFromStackName } from '../shared/domain/installation.js';
import { dormouseContext, isDockerHubImage, parseDormouseConfig, tenantArchitecture, type DormouseConfig } from './config.js';
import { plansSetting, plansWithImages } from './plans.js';
import { TenantApi } from './constructs/api.js';
import { ControlPlane } from './constructs/control-plane.js';
import { DormouseEventBus } from './constructs/event-bus.js';
import { LoadBalancer } from './constructs/load-balancer.js';
import { OperatorAlerts } from './constructs/operator-alerts.js';
import { TenantCluster } from './constructs/tenant-cluster.js';
import { TenantStorage } from './constructs/tenant-storage.js';
import { TenantTable } from './constructs/tenant-table.js';
import { addSettings } from './settings.js';

export interface DormouseStackProps extends StackProps {
  /**
   * The `dormouse` settings, validated like context.
   * @default the `dormouse` context object (cdk.json) with `-c dormouse.<key>=<value>` overrides
   */
  readonly config?: unknown;
}

/** All of Dormouse in one stack: `cdk deploy` installs it, `cdk destroy` removes it (tables are kept). */
export class DormouseStack extends Stack {
  readonly config: DormouseConfig;
  /** In every name and tag of tenant resources: `dormouse.installation`, or derived from the stack name. */
  readonly installation: string;
  readonly tables: TenantTable;
  readonly events: DormouseEventBus;
  readonly cluster: TenantCluster;
  /** Persistent tenant data; only with `dormouse.dataPath`. */
  readonly storage: TenantStorage | undefined;
  /** The first shard's load balancer: the only one with the default of one shard. */
  readonly loadBalancer: LoadBalancer;
  /** One load balancer per shard (`dormouse.shards`), in shard order. */
  readonly loadBalancers: readonly LoadBalancer[];
  readonly controlPlane: ControlPlane;
  readonly api: TenantApi;

  constructor(scope: Construct, id: string, props: DormouseStackProps = {}) {
    const config = parseDormouseConfig(props.config ?? dormouseContext(scope.node.getAllContext()));
    super(scope, id, {
      description: 'Dormouse: per-tenant trial environments on Fargate Spot, put to sleep when idle',
      ...props,
      // The zones in the configuration name the region; the account comes from the CLI's credentials.
      env: { account: props.env?.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: config.region },
    });
    this.config = config;
    this.installation = config.installation ?? installationFromStackName(this.stackName);
    const logRetention = config.logRetentionDays as RetentionDays;

    const alerts = new OperatorAlerts(this, 'Alerts', config.alarmEmail ? { email: config.alarmEmail } : {});
    this.tables = new TenantTable(this, 'Tables');
    this.events = new DormouseEventBus(this, 'Events', { alerts, logRetention });
    this.events.notifyTenantFailures();

    this.cluster = new TenantCluster(this, 'Tenants', {
      network: config.vpcId
        ? {
            vpcId: config.vpcId,
            availabilityZones: config.availabilityZones,
            publicSubnetIds: config.publicSubnetIds ?? [],
            privateSubnetIds: config.privateSubnetIds ?? [],
          }
        : { availabilityZones: config.availabilityZones, natGateways: config.natGateways },
      app: {
        ...(config.image === undefined ? {} : { image: config.image }),
        containerPort: config.containerPort,
        cpu: config.cpu,
        memory: config.memory,
        healthCheckPath: config.healthCheckPath,
        architecture: tenantArchitecture(config),
        environment: config.environment,
        ...(config.dataPath === undefined ? {} : { dataPath: config.dataPath }),
      },
      logRetention,
      taskMetrics: config.networkActivityBytesPerSecond > 0,
      planImages: plansWithImages(config.plans).map(({ name, image, cpu, memory }) => ({ plan: name, image, cpu, memory })),
    });
    this.storage =
      config.dataPath === undefined
        ? undefined
        : new TenantStorage(this, 'Storage', {
            cluster: this.cluster,
            alerts,
            dataPath: config.dataPath,
            backup: config.backup,
            alarmGiB: config.storageAlarmGiB,
            logRetention,
          });

    const images = [
      ...(config.image === undefined ? [] : [{ key: 'dormouse.image', image: config.image }]),
      ...plansWithImages(config.plans).map(({ name, image }) => ({ key: `dormouse.plans: plan "${name}", image`, image })),
    ];
    for (const { key, image } of images.filter(({ image }) => isDockerHubImage(image))) {
      Annotations.of(this).addWarningV2(
        'dormouse:docker-hub-image',
        `${key} ${image} is pulled from Docker Hub, which allows 10 anonymous pulls per hour per address: ` +
          'every tenant start pulls it through the NAT gateway, so bursts of starts fail with CannotPullContainerError. ' +
          "Copy it to ECR (or use an ECR Public image) and set that reference, or leave the image out for the installation's.",
      );
    }

    const sharded = config.shards > 1;
    const zone = config.hostedZoneId && config.hostedZoneName ? { id: config.hostedZoneId, name: config.hostedZoneName } : undefined;
    const shardProps = {
      vpc: this.cluster.vpc,
      domain: config.domain,
      ...(config.certificateArn ? { certificateArn: config.certificateArn } : {}),
    };
    // With one shard the wildcard record serves every tenant; with more each tenant gets its own,
    // made by the reconciler, pointing at its shard.
    this.loadBalancer = new LoadBalancer(this, 'LoadBalancer', {
      ...shardProps,
      ...(zone && !sharded ? { hostedZone: zone } : {}),
      ...(config.accessLogsBucket ? { accessLogsBucket: config.accessLogsBucket } : {}),
      accessLogsDays: config.accessLogsDays,
    });
    this.loadBalancers = [
      this.loadBalancer,
      ...Array.from(
        { length: config.shards - 1 },
        (_, i) => new LoadBalancer(this, `LoadBalancerShard${i + 1}`, { ...shardProps, shard: { index: i + 1, first: this.loadBalancer } }),
      ),
    ];
    for (const shard of this.loadBalancers) this.cluster.acceptTrafficFrom(shard.loadBalancer);

    // Also sends tenant hosts without a rule of their own to the wake function.
    this.controlPlane = new ControlPlane(this, 'ControlPlane', {
      tables: this.tables,
      events: this.events,
      cluster: this.cluster,
      loadBalancers: this.loadBalancers,
      ...(sharded && zone ? { tenantRecords: { hostedZoneId: zone.id, domain: config.domain } } : {}),
      alerts,
      ...(this.storage ? { storage: this.storage } : {}),
      settings: {
        installation: this.installation,
        baseUrl: config.baseUrl,
        maxTenants: config.maxTenants,
        maxActiveTenants: config.maxActiveTenants,
        trialDays: config.trialDays,
        idempotencyTtlSeconds: config.idempotencyTtlSeconds,
        idleTimeoutMinutes: config.idleTimeoutMinutes,
        minRunMinutes: config.minRunMinutes,
        expiringNoticeHours: config.expiringNoticeHours,
        sweepRateMinutes: config.sweepRateMinutes,
        stuckMinutes: config.stuckMinutes,
        warmLeadMinutes: config.warmLeadMinutes,
        networkActivityBytesPerSecond: config.networkActivityBytesPerSecond,
        spotAttempts: config.spotAttempts,
        onDemandFallback: config.onDemandFallback,
        maxRestarts: config.maxRestarts,
        tombstoneDays: config.tombstoneDays,
        reconcileConcurrency: config.reconcileConcurrency,
        anonymousWakesPerHour: config.anonymousWakesPerHour,
        wakeHoldSeconds: config.wakeHoldSeconds,
        wakeConcurrency: config.wakeConcurrency,
        adminPrincipals: config.adminPrincipals,
        logRetention,
        signupsPerHour: config.signupsPerHour,
        verifyEmail: config.verifyEmail,
        emailSender: config.emailSender,
        branding: config.branding,
        handover: config.handover,
        plans: plansSetting(config.plans),
        taskArchitecture: tenantArchitecture(config),
      },
    });

    this.api = new TenantApi(this, 'Api', {
      handler: this.controlPlane.api,
      throttle: config.apiThrottle,
      signupThrottle: config.signupThrottle,
      statusThrottle: config.statusThrottle,
      corsAllowOrigins: config.corsAllowOrigins,
      logRetention,
    });

    // The failed page links a tenant's owner to the self-service page the API serves.
    addSettings(this.controlPlane.wake, { DORMOUSE_MANAGE_URL: `${this.api.url}manage` });

    new CfnOutput(this, 'ApiUrl', { description: 'Tenant API (signup, status, admin under /admin)', value: this.api.url });
    new CfnOutput(this, 'AdminRouteArns', {
      description:
        'Allow execute-api:Invoke on these, and list the principal in dormouse.adminPrincipals, to let it call the admin routes (SigV4-signed)',
      value: Fn.join(',', this.api.adminRouteArns),
    });
    new CfnOutput(this, 'LoadBalancerDnsName', {
      description: sharded
        ? `The shards' load balancers, in shard order: each tenant gets its own record in the hosted zone, pointing at its shard`
        : `Point *.${config.domain} here (done for you when hostedZoneId is set)`,
      value: sharded
        ? Fn.join(
            ',',
            this.loadBalancers.map((shard) => shard.dnsName),
          )
        : this.loadBalancer.dnsName,
    });
    new CfnOutput(this, 'Installation', {
      description: 'Installation id: in the names and the dormouse:installation tag of every tenant task, target group and rule',
      value: this.installation,
    });
    new CfnOutput(this, 'EventBusName', { description: 'Domain events for integrators', value: this.events.busName });
    new CfnOutput(this, 'TenantTableName', { description: 'Tenant records', value: this.tables.table.tableName });
    new CfnOutput(this, 'TenantBaseUrl', { description: 'Tenants are served at <slug>.<this host>', value: config.baseUrl });
    new CfnOutput(this, 'AlarmTopicArn', { description: 'Subscribe here for alarms and failed tenants', value: alerts.topic.topicArn });
  }
}
