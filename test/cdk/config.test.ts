import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { dormouseContext, parseDormouseConfig } from '../../cdk/config.js';
import { DormouseStack } from '../../cdk/dormouse-stack.js';
import { CDK_JSON_CONTEXT, CERTIFICATE_ARN, configProblems, MINIMAL_CONFIG } from './support.js';

describe('Dormouse configuration', () => {
  it('accepts the example in cdk.json', () => {
    expect(configProblems(CDK_JSON_CONTEXT.dormouse)).toEqual([]);
  });

  it('needs only a domain and zones, and defaults the rest', () => {
    const config = parseDormouseConfig(MINIMAL_CONFIG);
    expect(config).toMatchObject({
      region: 'us-east-1',
      baseUrl: 'http://trials.example.com',
      containerPort: 80,
      cpu: 256,
      memory: 512,
      maxActiveTenants: 90,
      apiThrottle: { rate: 10, burst: 20 },
      signupThrottle: { rate: 1, burst: 5 },
      statusThrottle: { rate: 50, burst: 100 },
      signupsPerHour: 5,
      verifyEmail: true,
      emailSender: 'no-reply@trials.example.com',
      corsAllowOrigins: ['http://trials.example.com'],
      logRetentionDays: 30,
      onDemandFallback: true,
      idleTimeoutMinutes: 15,
      minRunMinutes: 5,
      sweepRateMinutes: 1,
      warmLeadMinutes: 5,
      stuckMinutes: 15,
      expiringNoticeHours: 24,
      adminPrincipals: [],
      reconcileConcurrency: 20,
      wakeConcurrency: 50,
      anonymousWakesPerHour: 6,
      wakeHoldSeconds: 25,
      accessLogsDays: 90,
    });
    // No image: the demo app, built from demo/ at deploy time.
    expect(config.image).toBeUndefined();
  });

  it('keeps tenants stateless unless a data path is set, and then hands over stop-first with a 50 GiB alarm and no backups', () => {
    expect(parseDormouseConfig(MINIMAL_CONFIG)).toMatchObject({ handover: 'stop-first', backup: false, storageAlarmGiB: 50 });
    expect(parseDormouseConfig(MINIMAL_CONFIG).dataPath).toBeUndefined();
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, dataPath: '' }).dataPath).toBeUndefined();
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, dataPath: '/var/lib/app-data' }).dataPath).toBe('/var/lib/app-data');
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, dataPath: '/data', backup: true, handover: 'overlap' })).toMatchObject({
      backup: true,
      handover: 'overlap',
    });
    // The example configuration keeps the demo app's visit count.
    expect(parseDormouseConfig(CDK_JSON_CONTEXT.dormouse).dataPath).toBe('/data');
  });

  it('takes an installation id, and leaves it unset by default for the stack to derive', () => {
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, installation: 'stage2' }).installation).toBe('stage2');
    expect(parseDormouseConfig(MINIMAL_CONFIG).installation).toBeUndefined();
  });

  it('serves tenants over HTTPS once a certificate is given', () => {
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, certificateArn: CERTIFICATE_ARN }).baseUrl).toBe('https://trials.example.com');
  });

  it.each([
    ['a domain that is not a DNS name', { domain: 'not a domain' }, 'dormouse.domain: must be a DNS name like trials.example.com'],
    ['a URL instead of a domain', { domain: 'https://trials.example.com' }, 'dormouse.domain: must be a DNS name like trials.example.com'],
    [
      'more active tenants than an ALB has target groups',
      { maxActiveTenants: 150 },
      'dormouse.maxActiveTenants: must be a whole number from 1 to 99 (an ALB takes at most 100 target groups, one of which is the wake function)',
    ],
    [
      'a certificate ARN that is not one',
      { certificateArn: 'arn:aws:iam::123456789012:server-certificate/trials' },
      'dormouse.certificateArn: must be an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>',
    ],
    [
      'a certificate from another region',
      { certificateArn: CERTIFICATE_ARN.replace('us-east-1', 'eu-west-1') },
      "dormouse.certificateArn: must be a certificate in us-east-1, the stack's region (ALB certificates are regional)",
    ],
    [
      'memory Fargate does not offer with that CPU',
      { cpu: 256, memory: 4096 },
      'dormouse.memory: must suit cpu 256 on Fargate: one of 512, 1024, 2048',
    ],
    [
      'a CPU size Fargate does not offer',
      { cpu: 300 },
      'dormouse.cpu: must be one of the Fargate CPU sizes 256, 512, 1024, 2048, 4096, 8192, 16384',
    ],
    [
      'a hosted zone id without its name',
      { hostedZoneId: 'Z0123456789ABCDEFGHIJ' },
      'dormouse.hostedZoneName: must be set together with hostedZoneId and hostedZoneName (the zone that holds the domain)',
    ],
    [
      'a hosted zone that does not hold the domain',
      { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'other.org' },
      'dormouse.hostedZoneName: must be trials.example.com or a parent of it, like example.com',
    ],
    [
      'one availability zone',
      { availabilityZones: ['us-east-1a'] },
      'dormouse.availabilityZones: must list at least two availability zones (an ALB needs two)',
    ],
    [
      'zones of two regions',
      { availabilityZones: ['us-east-1a', 'eu-west-1b'] },
      'dormouse.availabilityZones: must all be zones of one region',
    ],
    [
      'an existing VPC without its subnets',
      { vpcId: 'vpc-0123456789abcdef0' },
      'dormouse.publicSubnetIds: must list one subnet id per availability zone (2), in the same order, when vpcId is set',
    ],
    ['a malformed VPC id', { vpcId: 'my-vpc' }, 'dormouse.vpcId: must be a VPC id like vpc-0123456789abcdef0'],
    ['a retention CloudWatch does not offer', { logRetentionDays: 10 }, 'dormouse.logRetentionDays: must be one of 1, 3, 5, 7, 14, 30'],
    [
      'a CORS origin with a path',
      { corsAllowOrigins: ['https://www.example.com/signup'] },
      'dormouse.corsAllowOrigins.0: must be "*" or an origin',
    ],
    [
      'an environment that sets what the reconciler sets',
      { environment: { TENANT_ID: 'x' } },
      'dormouse.environment: must not set TENANT_ID or TENANT_HOST',
    ],
    [
      'a throttle without a burst',
      { apiThrottle: { rate: 5 } },
      'dormouse.apiThrottle.burst: is required; must be a whole number from 1 to 5000',
    ],
    [
      'a signup throttle of no requests',
      { signupThrottle: { rate: 0, burst: 1 } },
      'dormouse.signupThrottle.rate: must be a number of requests per second greater than 0 (like 10)',
    ],
    ['a negative signup limit', { signupsPerHour: -1 }, 'dormouse.signupsPerHour: must be a whole number from 0 to 100000'],
    [
      'a sender that is not an address',
      { emailSender: 'Dormouse' },
      'dormouse.emailSender: must be an email address like trials@example.com, verified in SES',
    ],
    ['an alarm email that is not one', { alarmEmail: 'ops' }, 'dormouse.alarmEmail: must be an email address like ops@example.com'],
    ['a health check path without a slash', { healthCheckPath: 'healthz' }, 'dormouse.healthCheckPath: must be a path like / or /healthz'],
    [
      'an admin principal that is not an IAM role or user ARN',
      { adminPrincipals: ['arn:aws:sts::123456789012:assumed-role/Admin/alice'] },
      'dormouse.adminPrincipals.0: must be an IAM role or user ARN like arn:aws:iam::123456789012:role/DormouseAdmin',
    ],
    [
      'a reserved concurrency that leaves Lambda less than its 100 unreserved executions',
      { reconcileConcurrency: 950 },
      'dormouse.reconcileConcurrency: must be a whole number from 1 to 900 (the account default is 1000, and Lambda keeps 100 unreserved)',
    ],
    ['a misspelt key', { domian: 'x' }, 'dormouse: unknown key "domian" (check the spelling)'],
    [
      'an installation id with a hyphen',
      { installation: 'prod-eu' },
      'dormouse.installation: must be 1 to 7 lowercase letters and digits, starting with a letter',
    ],
    [
      'an installation id too long for target group names',
      { installation: 'production' },
      'dormouse.installation: must be 1 to 7 lowercase',
    ],
    ['an installation id given as a number', { installation: 42 }, 'dormouse.installation: must be 1 to 7 lowercase'],
    ['a minimum run time of zero', { minRunMinutes: 0 }, 'dormouse.minRunMinutes: must be a whole number from 1 to 1440'],
    ['a sweep rate of a fraction of a minute', { sweepRateMinutes: 0.5 }, 'dormouse.sweepRateMinutes: must be a whole number from 1 to 60'],
    [
      'a sweep slower than the idle timeout',
      { sweepRateMinutes: 30, idleTimeoutMinutes: 15 },
      'dormouse.sweepRateMinutes: must be at most idleTimeoutMinutes (15)',
    ],
    [
      'a keep-warm lead shorter than the sweep period',
      { sweepRateMinutes: 10, warmLeadMinutes: 5 },
      'dormouse.warmLeadMinutes: must be at least sweepRateMinutes (10)',
    ],
    [
      'an expiry notice as long as the trial',
      { expiringNoticeHours: 48, trialDays: 2 },
      'dormouse.expiringNoticeHours: must be shorter than the trial (trialDays 2 = 48 hours)',
    ],
    ['a relative data path', { dataPath: 'data' }, 'dormouse.dataPath: must be an absolute path in the container like /data'],
    ['the root as data path', { dataPath: '/' }, 'dormouse.dataPath: must be an absolute path in the container like /data'],
    ['a data path with a trailing slash', { dataPath: '/data/' }, 'dormouse.dataPath: must be an absolute path'],
    ['a data path that climbs out', { dataPath: '/data/../etc' }, 'dormouse.dataPath: must be an absolute path'],
    ['a data path with a space', { dataPath: '/my data' }, 'dormouse.dataPath: must be an absolute path'],
    ['a data path over a system directory', { dataPath: '/etc/app' }, 'dormouse.dataPath: must not be a system directory of the container'],
    ['a handover that is neither', { handover: 'blue-green' }, 'dormouse.handover: must be "stop-first" or "overlap"'],
    ['backups given as a string', { backup: 'yes' }, 'dormouse.backup: must be true or false'],
    ['backups without a data path', { backup: true }, 'dormouse.backup: backs up the tenant file system, which exists only with dataPath'],
    [
      'a storage alarm of a fraction of a GiB',
      { storageAlarmGiB: 0.5 },
      'dormouse.storageAlarmGiB: must be a whole number from 1 to 1000000',
    ],
  ])('refuses %s, naming the key and the expected form', (_case, change, message) => {
    expect(configProblems({ ...MINIMAL_CONFIG, ...change })).toEqual(expect.arrayContaining([expect.stringContaining(message)]));
  });

  it('says a required key is missing', () => {
    expect(configProblems({ availabilityZones: MINIMAL_CONFIG.availabilityZones })).toEqual([
      'dormouse.domain: is required; must be a DNS name like trials.example.com',
    ]);
  });

  it('reports every problem at once', () => {
    expect(configProblems({ ...MINIMAL_CONFIG, domain: 'x', maxActiveTenants: 0, trialDays: 'two weeks' })).toHaveLength(3);
  });

  it('takes -c dormouse.<key>=<value> overrides from the command line, as strings', () => {
    const input = dormouseContext({
      dormouse: { ...MINIMAL_CONFIG, apiThrottle: { rate: 10, burst: 20 } },
      'dormouse.maxActiveTenants': '50',
      'dormouse.onDemandFallback': 'false',
      'dormouse.apiThrottle.rate': '2.5',
      'dormouse.availabilityZones': '["us-east-1a","us-east-1c"]',
      'dormouse.certificateArn': CERTIFICATE_ARN,
    });
    expect(parseDormouseConfig(input)).toMatchObject({
      maxActiveTenants: 50,
      onDemandFallback: false,
      apiThrottle: { rate: 2.5, burst: 20 },
      availabilityZones: ['us-east-1a', 'us-east-1c'],
      certificateArn: CERTIFICATE_ARN,
    });
  });

  it('stops the synth before any resource is made when the context is wrong', () => {
    const app = new App({ context: { dormouse: { ...MINIMAL_CONFIG, maxActiveTenants: 150 } } });
    expect(() => new DormouseStack(app, 'Dormouse')).toThrow(/dormouse\.maxActiveTenants: must be a whole number from 1 to 99/);
    expect(app.node.children).toHaveLength(0);
  });
});
