import { addSettings } from '../settings.js';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { GatewayVpcEndpointAwsService, Peer, Port, SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import {
  AccessPoint,
  FileSystem,
  LifecyclePolicy,
  OutOfInfrequentAccessPolicy,
  PerformanceMode,
  ThroughputMode,
} from 'aws-cdk-lib/aws-efs';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { FileSystem as LambdaFileSystem, type FileSystemConfig, type Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INSTALLATION_TAG } from '../../shared/adapters/common/names.js';
import { TENANTS_MOUNT_PATH } from '../../shared/adapters/aws/tenant-data-function.js';
import { acknowledge, acknowledgeWildcardResources } from '../nag.js';
import { dormouseFunction } from './function.js';
import type { OperatorAlerts } from './operator-alerts.js';
import type { TenantCluster } from './tenant-cluster.js';

/** Every tenant's directory is `/tenants/<tenant>` on the file system; the cleaner's access point is rooted here. */
export const TENANTS_DIRECTORY = '/tenants';

/**
 * The POSIX owner of every tenant's files, enforced by the access points whatever user the app
 * runs as: one owner, so the cleaner (the same user) can remove any tenant's files.
 */
export const DATA_OWNER = { uid: '1000', gid: '1000' } as const;

/**
 * Lambda's longest: a restore may hold 100 000 entries, and over NFS each file costs a few round
 * trips of a millisecond or more, however small it is. A removal cut short is finished by the next
 * (it is safe to repeat); an export or restore cut short fails and leaves the tenant's data as it was.
 */
const DATA_FUNCTION_TIMEOUT = Duration.minutes(15);
/** One full vCPU (Lambda's CPU grows with memory), for gzip; a 1 GiB tenant packs in seconds, not minutes. */
/** Data function runs at once: exports, restores and removals together. */
const DATA_FUNCTION_CONCURRENCY = 5;
const DATA_FUNCTION_MEMORY_MB = 1769;
/** Exports are downloaded, and uploads restored, within the hour their links work: a day is plenty. */
const ARCHIVE_DAYS = Duration.days(1);

/**
 * A Lambda mount of an EFS access point with the grant written out: `FileSystem.fromEfsAccessPoint`
 * would allow ClientMount on "*" and ClientWrite without naming the access point.
 */
class AccessPointMount extends LambdaFileSystem {
  constructor(config: FileSystemConfig) {
    super(config);
  }
}

export interface TenantStorageProps {
  readonly cluster: TenantCluster;
  readonly alerts: OperatorAlerts;
  /** Where each tenant's container finds its own directory. */
  readonly dataPath: string;
  /** Daily AWS Backup of the file system. */
  readonly backup: boolean;
  /** The size alarm's threshold. */
  readonly alarmGiB: number;
  readonly logRetention: RetentionDays;
}

/**
 * Persistent, isolated storage for tenants: one encrypted EFS file system in the tenant subnets
 * (a mount target in each), reachable on NFS only from tenant tasks and the cleaner function, over
 * TLS only, with IAM authorization and only through an access point. The reconciler gives each
 * tenant an access point rooted at `/tenants/<tenant>` and a task definition that mounts it at
 * `dataPath`; the cleaner function removes a deleted tenant's directory. The file system is kept
 * when the stack is deleted: it holds the tenants' data.
 */
export class TenantStorage extends Construct {
  readonly fileSystem: FileSystem;
  readonly cleaner: NodejsFunction;
  readonly cleanerAccessPoint: AccessPoint;
  readonly cleanerSecurityGroup: SecurityGroup;
  /** Tenant data archives: exports to download under `exports/`, uploads to restore under `restores/`. */
  readonly archiveBucket: Bucket;
  readonly dataPath: string;

  constructor(scope: Construct, id: string, props: TenantStorageProps) {
    super(scope, id);
    const { cluster } = props;
    this.dataPath = props.dataPath;

    const securityGroup = new SecurityGroup(this, 'FileSystemSecurityGroup', {
      vpc: cluster.vpc,
      description: 'Dormouse tenant file system: NFS in from tenant tasks and the data cleaner only',
      // Mount targets only answer; they start no connection.
      allowAllOutbound: false,
    });
    this.fileSystem = new FileSystem(this, 'FileSystem', {
      vpc: cluster.vpc,
      vpcSubnets: { subnets: cluster.vpc.privateSubnets },
      securityGroup,
      // At rest with the AWS-managed key of EFS; in transit by the TLS the policy below requires.
      encrypted: true,
      performanceMode: PerformanceMode.GENERAL_PURPOSE,
      // Paid per GB moved rather than earned by size: a small file system of sleeping tenants
      // would have almost no baseline throughput in bursting mode.
      throughputMode: ThroughputMode.ELASTIC,
      // A tenant asleep for a week is unlikely to wake soon: its files move to Infrequent Access
      // (about a twelfth of the price), and back to Standard the first time they are read.
      lifecyclePolicy: LifecyclePolicy.AFTER_7_DAYS,
      outOfInfrequentAccessPolicy: OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      // AWS Backup's daily plan with 35 days of recovery points, managed by EFS: no vault, plan or
      // role in this stack to keep, and the recovery points outlive the stack.
      enableAutomaticBackups: props.backup,
      // Tenant data must survive a mistaken `cdk destroy` or a replacement.
      removalPolicy: RemovalPolicy.RETAIN,
      // "Anonymous" here only stops aws-cdk-lib from adding its default statement, which would let
      // any principal write as root through a mount target; the policy below admits no anonymous
      // client at all, since it allows nothing to anyone (roles are allowed by their own policies).
      allowAnonymousAccess: true,
      // Statements without a Resource apply to this file system, as aws-cdk-lib's own default does.
      fileSystemPolicy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            sid: 'DenyWithoutTls',
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['*'],
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          new PolicyStatement({
            sid: 'DenyWithoutAccessPoint',
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess'],
            // Every mount names an access point, which pins its root directory and its user.
            conditions: { Null: { 'elasticfilesystem:AccessPointArn': 'true' } },
          }),
        ],
      }),
    });
    // Tenant tasks mount their own directory; no rule admits the tenants' group to itself, so NFS is the only new path.
    this.fileSystem.connections.allowDefaultPortFrom(cluster.tenantSecurityGroup, 'Tenant tasks mount their data');
    this.cleanerAccessPoint = this.fileSystem.addAccessPoint('CleanerAccessPoint', {
      path: TENANTS_DIRECTORY,
      posixUser: DATA_OWNER,
      createAcl: { ownerUid: DATA_OWNER.uid, ownerGid: DATA_OWNER.gid, permissions: '0700' },
    });
    cluster.taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'MountTenantData',
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [this.fileSystem.fileSystemArn],
        conditions: {
          Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
          // The tenant data function's access point is rooted at /tenants, every tenant's data:
          // never a tenant task's, even one that brought its own NFS client.
          StringNotEquals: { 'elasticfilesystem:AccessPointArn': this.cleanerAccessPoint.accessPointArn },
        },
      }),
    );
    this.cleanerSecurityGroup = new SecurityGroup(this, 'CleanerSecurityGroup', {
      vpc: cluster.vpc,
      description: 'Dormouse tenant data function: out to the tenant file system on NFS and to S3 on HTTPS only',
      // NFS to the mount targets, opened by the mount below, and HTTPS for the archive bucket.
      allowAllOutbound: false,
    });
    this.archiveBucket = this.createArchiveBucket();
    this.reachS3(cluster);
    this.cleaner = dormouseFunction(this, 'Cleaner', {
      entry: 'tenant-data',
      description: "Dormouse: remove a deleted tenant's files, export a tenant's data to the archive bucket, restore it from there",
      serviceName: 'dormouse-tenant-data',
      logRetention: props.logRetention,
      timeout: DATA_FUNCTION_TIMEOUT,
      memorySize: DATA_FUNCTION_MEMORY_MB,
      // Exports run on in the background after the API has answered: however many are asked
      // for, at most this many run at once, and the account's concurrency stays the reconciler's.
      reservedConcurrentExecutions: DATA_FUNCTION_CONCURRENCY,
      network: {
        vpc: cluster.vpc,
        subnets: cluster.vpc.privateSubnets,
        securityGroup: this.cleanerSecurityGroup,
      },
      filesystem: new AccessPointMount({
        localMountPath: TENANTS_MOUNT_PATH,
        arn: this.cleanerAccessPoint.accessPointArn,
        dependency: [this.fileSystem.mountTargetsAvailable],
        // Opens NFS from the cleaner's group to the file system's, and no other way.
        connections: this.fileSystem.connections,
        policies: [
          new PolicyStatement({
            sid: 'MountTenantsDirectory',
            actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            resources: [this.fileSystem.fileSystemArn],
            conditions: {
              StringEquals: { 'elasticfilesystem:AccessPointArn': this.cleanerAccessPoint.accessPointArn },
              Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
            },
          }),
        ],
      }),
    });
    if (this.cleaner.role) {
      acknowledge(
        this.cleaner.role,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'The AWS-managed policy Lambda documents for functions in a VPC: it creates, describes and deletes the ' +
          "function's network interfaces, whose ids Lambda picks at run time.",
      );
    }

    this.allowArchivesFromFileSystem();

    props.alerts.alarmOnFileSystemSize('TenantDataSize', { fileSystemId: this.fileSystem.fileSystemId, thresholdGiB: props.alarmGiB });
    new CfnOutput(Stack.of(this), 'TenantFileSystemId', {
      description: 'EFS file system of tenant data (kept when the stack is deleted)',
      value: this.fileSystem.fileSystemId,
    });
  }

  /**
   * Lets `fn` (the reconciler) give tenants access points on this file system, and remove the
   * ones of this installation, and invoke the cleaner; and tells it where the data goes.
   */
  bindReconciler(fn: LambdaFunction, installation: string): void {
    const stack = Stack.of(this);
    const accessPoints = stack.formatArn({
      service: 'elasticfilesystem',
      resource: 'access-point',
      resourceName: '*',
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const taggedOnCreate = { [`aws:RequestTag/${INSTALLATION_TAG}`]: installation };
    const statements = {
      create: new PolicyStatement({
        sid: 'CreateTenantAccessPoints',
        actions: ['elasticfilesystem:CreateAccessPoint'],
        resources: [this.fileSystem.fileSystemArn],
        // Every access point it makes carries this installation's tag.
        conditions: { StringEquals: taggedOnCreate },
      }),
      tag: new PolicyStatement({
        sid: 'TagTenantAccessPointsOnCreate',
        actions: ['elasticfilesystem:TagResource'],
        resources: [this.fileSystem.fileSystemArn, accessPoints],
        conditions: { StringEquals: { 'elasticfilesystem:CreateAction': 'CreateAccessPoint', ...taggedOnCreate } },
      }),
      describe: new PolicyStatement({
        sid: 'DescribeTenantAccessPoints',
        actions: ['elasticfilesystem:DescribeAccessPoints'],
        // Listing names the file system; reading one access point by its id names the access point.
        resources: [this.fileSystem.fileSystemArn, accessPoints],
      }),
      delete: new PolicyStatement({
        sid: 'DeleteTenantAccessPoints',
        actions: ['elasticfilesystem:DeleteAccessPoint'],
        resources: [accessPoints],
        // Only access points of this installation: never another's, nor one made by hand.
        conditions: { StringEquals: { [`aws:ResourceTag/${INSTALLATION_TAG}`]: installation } },
      }),
      clean: new PolicyStatement({
        sid: 'CleanTenantData',
        actions: ['lambda:InvokeFunction'],
        resources: [this.cleaner.functionArn],
      }),
    };
    for (const statement of Object.values(statements)) fn.addToRolePolicy(statement);
    if (fn.role) {
      acknowledgeWildcardResources(
        fn.role,
        statements.tag,
        'Access point ids are generated by EFS when one is created; tags can only be set as part of CreateAccessPoint ' +
          '(elasticfilesystem:CreateAction) and must name this installation (aws:RequestTag).',
      );
      acknowledgeWildcardResources(
        fn.role,
        statements.delete,
        'Access point ids are generated by EFS at run time; the aws:ResourceTag condition holds DeleteAccessPoint to access points of this installation.',
      );
    }
    addSettings(fn, {
      DORMOUSE_DATA_PATH: this.dataPath,
      DORMOUSE_FILE_SYSTEM_ID: this.fileSystem.fileSystemId,
      DORMOUSE_DATA_FUNCTION: this.cleaner.functionName,
    });
  }

  /**
   * Lets `fn` (the API) export and restore tenants' data: invoke the data function, and sign the
   * links people download an export from (GetObject on `exports/`) and upload an archive to
   * (PutObject on `restores/`); a presigned URL acts with its signer's rights, so these are also
   * everything a link can do. It reads an upload's head before restoring it (GetObject on
   * `restores/`), and may list the bucket so that a missing upload answers 404 rather than 403.
   */
  bindArchives(fn: LambdaFunction): void {
    const statements = {
      invoke: new PolicyStatement({
        sid: 'ExportAndRestoreTenantData',
        actions: ['lambda:InvokeFunction'],
        resources: [this.cleaner.functionArn],
      }),
      download: new PolicyStatement({
        sid: 'SignExportLinks',
        actions: ['s3:GetObject'],
        resources: [this.archiveBucket.arnForObjects('exports/*'), this.archiveBucket.arnForObjects('restores/*')],
      }),
      upload: new PolicyStatement({
        sid: 'SignUploadLinks',
        actions: ['s3:PutObject'],
        resources: [this.archiveBucket.arnForObjects('restores/*')],
      }),
      list: new PolicyStatement({ sid: 'TellMissingUploads', actions: ['s3:ListBucket'], resources: [this.archiveBucket.bucketArn] }),
    };
    for (const statement of Object.values(statements)) fn.addToRolePolicy(statement);
    if (fn.role) {
      for (const statement of [statements.download, statements.upload]) {
        acknowledgeWildcardResources(
          fn.role,
          statement,
          "Archive keys are made per export and per upload at run time (a random id under the tenant's prefix); the statement is held to " +
            'its prefix of the one archive bucket of this installation, whose objects expire after a day.',
        );
      }
    }
    addSettings(fn, { DORMOUSE_ARCHIVE_BUCKET: this.archiveBucket.bucketName, DORMOUSE_DATA_FUNCTION: this.cleaner.functionName });
  }

  private createArchiveBucket(): Bucket {
    const bucket = new Bucket(this, 'Archives', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'ExpireExports', prefix: 'exports/', expiration: ARCHIVE_DAYS },
        { id: 'ExpireRestoreUploads', prefix: 'restores/', expiration: ARCHIVE_DAYS },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: ARCHIVE_DAYS },
      ],
      // Kept, like the file system, when the stack is deleted: a bucket that still holds an
      // archive could not be deleted, and this one empties itself within a day.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      bucket,
      'AwsSolutions-S1',
      'Every object is a tenant archive written by the data function or through a link the API signed for one tenant, ' +
        'both logged with the tenant (the API access log, the function log), and expires after a day; server access logs ' +
        'would need a bucket of their own for no more than that.',
    );
    return bucket;
  }

  /**
   * The data function runs in the tenant subnets. In a VPC this stack creates, an S3 gateway
   * endpoint (free, unlike NAT traffic) carries its archive traffic; an existing VPC is left as it
   * is, and must reach S3 itself (a NAT gateway or its own endpoint).
   */
  private reachS3(cluster: TenantCluster): void {
    if (cluster.vpc instanceof Vpc) {
      cluster.vpc.addGatewayEndpoint('S3Endpoint', {
        service: GatewayVpcEndpointAwsService.S3,
        subnets: [{ subnets: cluster.vpc.privateSubnets }],
      });
    }
    // S3's addresses are many and change; IAM, not the network, holds the function to its bucket.
    this.cleanerSecurityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'S3 (the archive bucket) over HTTPS');
  }

  /** The data function writes exports and reads uploads, each under its own prefix only. */
  private allowArchivesFromFileSystem(): void {
    const statements = [
      new PolicyStatement({
        sid: 'WriteExports',
        // lib-storage's Upload sends a large export in parts, and aborts them if it fails.
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [this.archiveBucket.arnForObjects('exports/*')],
      }),
      new PolicyStatement({
        sid: 'ReadRestoreUploads',
        actions: ['s3:GetObject'],
        resources: [this.archiveBucket.arnForObjects('restores/*')],
      }),
    ];
    for (const statement of statements) this.cleaner.addToRolePolicy(statement);
    if (this.cleaner.role) {
      for (const statement of statements) {
        acknowledgeWildcardResources(
          this.cleaner.role,
          statement,
          "Archive keys are made per export and per upload at run time; the function also refuses any key that is not the tenant's own.",
        );
      }
    }
    addSettings(this.cleaner, { DORMOUSE_ARCHIVE_BUCKET: this.archiveBucket.bucketName });
  }
}
