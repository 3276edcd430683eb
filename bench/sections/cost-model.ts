import { readFile } from 'node:fs/promises';
import { PRICES, type Prices } from '../../shared/domain/prices.js';
import type { StepCost } from './lifecycle.js';
import type { Row, Section, SectionResult } from '../lib/types.js';

/**
 * Monthly cost of one trial tenant: its task on Fargate Spot 5 % of the time, against the same
 * task on on-demand Fargate all month, from the configured task size and the prices in
 * shared/domain/prices.ts. When the lifecycle section ran, the control plane's own cost per wake
 * cycle (from its measured calls, capacity and invocations) is added.
 */

const HOURS_PER_MONTH = 730;
const ACTIVE_SHARE = 0.05;
/** One visit a day: each wakes the tenant, and the idle sweep passivates it afterwards. */
const WAKE_CYCLES_PER_MONTH = 30;
/** The idle sweep runs every minute and asks CloudWatch for one metric per active tenant (lambdas/sweep.ts, cloudwatch-activity.ts). */
const SWEEPS_PER_HOUR = 60;
const METRICS_PER_ACTIVE_TENANT = 1;
/** The ALB's hard limit is 100 target groups; one tenant each, one kept spare. */
const ALWAYS_ON_TENANTS_PER_ALB = 99;
/** Tenants on one ALB when they passivate (the figure the load balancer row uses). */
const PASSIVATING_TENANTS_PER_ALB = 1000;
/**
 * Persistent data per tenant (dormouse.dataPath), on the EFS file system. Prices in
 * shared/domain/prices.ts ("efs": us-east-1, looked up 2026-12-06; Standard from
 * aws.amazon.com/efs/pricing, Infrequent Access from a June 2026 breakdown quoting it). The file
 * system moves files untouched for 7 days to Infrequent Access, so a sleeping tenant's data ends
 * up there; the two rows are the bounds.
 */
const DATA_GB_PER_TENANT = 0.1;

function money(value: number): string {
  if (value >= 1) return `$${value.toFixed(2)}`;
  if (value >= 0.01) return `$${value.toFixed(3)}`;
  return `$${value.toPrecision(2)}`;
}

/** What the control plane spends on AWS for some lifecycle steps (ECS and ELBv2 API calls are free). */
function controlPlaneCost(steps: StepCost[], prices: Prices) {
  let dynamodb = 0;
  let lambda = 0;
  let events = 0;
  let api = 0;
  for (const step of steps) {
    const { rcu, wcu, transactionalWcu } = step.capacity;
    // Items in TransactWriteItems are billed twice; DynamoDB Local reports them once.
    dynamodb +=
      (rcu * prices.dynamodb.perMillionReadRequestUnits + (wcu + transactionalWcu) * prices.dynamodb.perMillionWriteRequestUnits) / 1e6;
    const invocations = Object.values(step.invocations).reduce((a, b) => a + b, 0);
    lambda += (invocations * prices.lambda.perMillionRequests) / 1e6 + step.gbSeconds * prices.lambda.perGbSecondArm64;
    const busEvents = Object.values(step.events).reduce((a, b) => a + b, 0);
    events +=
      (busEvents * prices.eventbridge.perMillionCustomEvents + step.pipeRequests * prices.eventbridge.perMillionPipesRequests) / 1e6;
    api += (step.invocations.api * prices.apiGateway.perMillionHttpApiRequests) / 1e6;
  }
  return { dynamodb, lambda, events, api, total: dynamodb + lambda + events + api };
}

const costModel: Section = {
  id: 'cost-model',
  title: 'Cost model',
  async run({ root, earlier }): Promise<SectionResult> {
    const prices = PRICES;
    let cpuUnits = 256;
    let memoryMiB = 512;
    let sizeSource = 'default 0.25 vCPU / 0.5 GB (no dormouse context in cdk.json)';
    try {
      const cdk = JSON.parse(await readFile(`${root}cdk.json`, 'utf8')) as { context?: { dormouse?: { cpu?: number; memory?: number } } };
      const configured = cdk.context?.dormouse;
      if (configured?.cpu && configured.memory) {
        cpuUnits = configured.cpu;
        memoryMiB = configured.memory;
        sizeSource = `cdk.json context dormouse.cpu ${cpuUnits}, dormouse.memory ${memoryMiB}`;
      }
    } catch {
      // No cdk.json: the defaults above.
    }
    const vcpu = cpuUnits / 1024;
    const gb = memoryMiB / 1024;
    const hourly = (rate: { perVcpuHour: number; perGbHour: number }) => vcpu * rate.perVcpuHour + gb * rate.perGbHour;
    const activeHours = HOURS_PER_MONTH * ACTIVE_SHARE;
    const alwaysOn = HOURS_PER_MONTH * hourly(prices.fargate.onDemand);
    const spotCompute = activeHours * hourly(prices.fargate.spot);
    const sweep = (activeHours * SWEEPS_PER_HOUR * METRICS_PER_ACTIVE_TENANT * prices.cloudwatch.perThousandMetricsRequested) / 1000;
    const section = 'Cost model';
    const albMonth = HOURS_PER_MONTH * prices.alb.perHour;
    const storageMonth = {
      standard: DATA_GB_PER_TENANT * prices.efs.standardPerGbMonth,
      infrequentAccess: DATA_GB_PER_TENANT * prices.efs.infrequentAccessPerGbMonth,
    };
    const storageRow = (tenants: number): Row => ({
      section,
      case: `storage, ${DATA_GB_PER_TENANT * 1000} MB per tenant`,
      metric: `Per month, ${String(tenants).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')} tenant${tenants === 1 ? '' : 's'}`,
      value:
        `${money(tenants * storageMonth.standard)} on EFS Standard, ${money(tenants * storageMonth.infrequentAccess)} on Infrequent Access ` +
        `(${money(prices.efs.standardPerGbMonth)} and ${money(prices.efs.infrequentAccessPerGbMonth)} per GB-month, ${prices.efs.asOf})`,
      data: { tenants, standard: tenants * storageMonth.standard, infrequentAccess: tenants * storageMonth.infrequentAccess },
    });

    const steps = (earlier.get('lifecycle')?.details?.steps ?? []) as StepCost[];
    const cycle =
      steps.length > 0
        ? controlPlaneCost(
            steps.filter((step) => step.step === 'passivate' || step.step === 'wake'),
            prices,
          )
        : undefined;
    const oneOff =
      steps.length > 0
        ? controlPlaneCost(
            steps.filter((step) => !['passivate', 'wake'].includes(step.step)),
            prices,
          )
        : undefined;
    const cyclesMonth = cycle ? cycle.total * WAKE_CYCLES_PER_MONTH : 0;
    const dormouseMonth = spotCompute + cyclesMonth + sweep;
    // The same tenant on Graviton (dormouse.architecture arm64): only the task's price changes.
    const armSpotCompute = activeHours * hourly(prices.fargateArm64.spot);
    const armMonth = armSpotCompute + cyclesMonth + sweep;

    const rows: Row[] = [
      {
        section,
        case: 'trial tenant',
        metric: 'Task size',
        value: `${vcpu} vCPU, ${gb} GB (${sizeSource})`,
      },
      {
        section,
        case: 'always on, on-demand',
        metric: 'Per month',
        value: `${money(alwaysOn)} (${HOURS_PER_MONTH} h × ${money(hourly(prices.fargate.onDemand))}/h)`,
        data: { alwaysOn },
      },
      {
        section,
        case: `${ACTIVE_SHARE * 100} % active, Fargate Spot`,
        metric: 'Per month',
        value:
          `${money(dormouseMonth)}: compute ${money(spotCompute)} (${activeHours} h × ${money(hourly(prices.fargate.spot))}/h)` +
          (cycle ? `, ${WAKE_CYCLES_PER_MONTH} wake cycles ${money(cyclesMonth)}` : ', control plane not measured in this run') +
          `, idle checks ${money(sweep)}`,
        target: 'well under always-on',
        pass: dormouseMonth < alwaysOn,
        data: { dormouseMonth, spotCompute, cyclesMonth, sweep },
      },
      {
        section,
        case: `${ACTIVE_SHARE * 100} % active, Fargate Spot arm64`,
        metric: 'Per month',
        value:
          `${money(armMonth)} (x86_64: ${money(dormouseMonth)}, ${((1 - armMonth / dormouseMonth) * 100).toFixed(0)} % less): ` +
          `compute ${money(armSpotCompute)} (${activeHours} h × ${money(hourly(prices.fargateArm64.spot))}/h, Linux/ARM prices as of ${prices.fargateArm64.asOf})` +
          (cycle ? `, ${WAKE_CYCLES_PER_MONTH} wake cycles ${money(cyclesMonth)}` : ', control plane not measured in this run') +
          `, idle checks ${money(sweep)}`,
        target: 'under x86_64 Spot',
        pass: armMonth < dormouseMonth,
        data: { armMonth, armSpotCompute, x86Month: dormouseMonth },
      },
      {
        section,
        case: 'networkActivityBytesPerSecond on',
        metric: 'Per month, more',
        value:
          `${money(sweep)} of GetMetricData (the task network query reads one more metric per awake task per run), ` +
          "plus Container Insights' enhanced task metrics for the hours the task runs (not priced here: see the CloudWatch pricing page)",
        data: { taskNetworkQuery: sweep },
      },
      {
        section,
        case: `${ACTIVE_SHARE * 100} % active, Fargate Spot`,
        metric: 'Against always-on',
        value: `${((1 - dormouseMonth / alwaysOn) * 100).toFixed(1)} % less (${(alwaysOn / dormouseMonth).toFixed(0)}× cheaper)`,
      },
      ...(cycle && oneOff
        ? [
            {
              section,
              case: 'control plane',
              metric: 'Per wake cycle',
              value:
                `${money(cycle.total)}: Lambda ${money(cycle.lambda)}, DynamoDB ${money(cycle.dynamodb)}, ` +
                `EventBridge and Pipes ${money(cycle.events)}, API Gateway ${money(cycle.api)} (passivate + wake steps as measured)`,
              data: cycle,
            },
            {
              section,
              case: 'control plane',
              metric: 'Per trial, once',
              value: `${money(oneOff.total)} for signup, provision, ready and delete`,
              data: oneOff,
            },
          ]
        : []),
      {
        section,
        case: 'load balancer',
        metric: 'Per month',
        value:
          `${money(albMonth)} per ALB before LCUs; per tenant ${money(albMonth / PASSIVATING_TENANTS_PER_ALB)} with 1 000 passivating tenants on one ALB ` +
          `vs ${money(albMonth / ALWAYS_ON_TENANTS_PER_ALB)} always-on (at most ${ALWAYS_ON_TENANTS_PER_ALB} per ALB)`,
        data: { albMonth },
      },
      storageRow(1),
      storageRow(ALWAYS_ON_TENANTS_PER_ALB),
      storageRow(PASSIVATING_TENANTS_PER_ALB),
    ];
    return {
      rows,
      notes: [
        `Cost model: published prices as of ${prices.asOf} (${prices.region}, shared/domain/prices.ts, with their sources; Linux/ARM as of ${prices.fargateArm64.asOf}); Fargate Spot prices vary and the figure is a typical one. ` +
          `A month is ${HOURS_PER_MONTH} h; "${ACTIVE_SHARE * 100} % active" counts the idle time before passivation as active. Assumed: ${WAKE_CYCLES_PER_MONTH} wake cycles a month, ` +
          `and the idle sweep asking CloudWatch for ${METRICS_PER_ACTIVE_TENANT} metric per active tenant every minute (as the sweep does). ` +
          "Not counted: LCUs (they depend on the tenants' traffic), NAT and data transfer, CloudWatch Logs, the 20 GB of task storage Fargate includes, " +
          'EFS Elastic Throughput (per GB read and written) and Infrequent Access reads, and AWS Backup storage when dormouse.backup is on.',
      ],
    };
  },
};

export default costModel;
