import type { CostPrices } from './usage.js';

/**
 * Published AWS list prices, written down by hand (nothing fetches them): what the cost to date
 * of a tenant and the bench's cost model are computed from. Change them here and nowhere else, and
 * move the `asOf` of the family changed with them: every cost shown says when the prices it used
 * were written down.
 */
export const PRICES = {
  asOf: '2025-06',
  region: 'us-east-1',
  currency: 'USD',
  note: 'Published list prices as of 2025-06 for us-east-1, from the AWS pricing pages named in each entry, written down by hand (the bench fetches nothing). Re-check them before quoting; change them here and nowhere else.',
  fargate: {
    source: 'AWS Fargate pricing, Linux/x86',
    asOf: '2025-06',
    onDemand: {
      perVcpuHour: 0.04048,
      perGbHour: 0.004445,
    },
    spot: {
      perVcpuHour: 0.0121,
      perGbHour: 0.00133,
      variable: true,
      note: 'Fargate Spot prices move with spare capacity; these are typical us-east-1 figures as of 2025-06, about 70 % below on-demand.',
    },
  },
  /** Graviton (Linux/ARM) tasks: the same sizes, about 20 % less than x86_64. */
  fargateArm64: {
    source:
      'AWS Fargate pricing, Linux/ARM, us-east-1 (aws.amazon.com/fargate/pricing, as quoted by fortem.dev and vantage.sh, verified June 2026); looked up 2026-12-06',
    asOf: '2026-12',
    onDemand: {
      perVcpuHour: 0.03238,
      perGbHour: 0.00356,
    },
    spot: {
      perVcpuHour: 0.0097,
      perGbHour: 0.00107,
      variable: true,
      note: 'Fargate Spot prices move with spare capacity (arm64 on Spot since September 2024, platform 1.4.0); these assume the same ~70 % discount as the x86 Spot figure.',
    },
  },
  alb: {
    source: 'Elastic Load Balancing pricing, Application Load Balancer',
    perHour: 0.0225,
    perLcuHour: 0.008,
  },
  dynamodb: {
    source: 'Amazon DynamoDB pricing, on-demand capacity (after the 2024-11-01 reduction)',
    perMillionWriteRequestUnits: 0.625,
    perMillionReadRequestUnits: 0.125,
  },
  lambda: {
    source: 'AWS Lambda pricing',
    perGbSecondArm64: 0.0000133334,
    perGbSecondX86: 0.0000166667,
    perMillionRequests: 0.2,
  },
  eventbridge: {
    source: 'Amazon EventBridge pricing',
    perMillionCustomEvents: 1,
    perMillionPipesRequests: 0.4,
  },
  apiGateway: {
    source: 'Amazon API Gateway pricing, HTTP APIs (first 300 million requests)',
    perMillionHttpApiRequests: 1,
  },
  efs: {
    source:
      "Amazon EFS pricing, Regional (Multi-AZ) file systems, us-east-1: Standard from aws.amazon.com/efs/pricing; Infrequent Access and Elastic Throughput from factualminds.com's EFS pricing breakdown (us-east-1, June 2026), which quotes the AWS page; looked up 2026-12-06",
    asOf: '2026-12',
    standardPerGbMonth: 0.3,
    infrequentAccessPerGbMonth: 0.025,
    infrequentAccessReadPerGb: 0.01,
    elasticReadPerGb: 0.03,
    elasticWritePerGb: 0.06,
    note: 'Infrequent Access bills at least 128 KiB per file. Elastic Throughput bills the bytes the tenants read and write, which depend on their apps and are not modelled.',
  },
  cloudwatch: {
    source: 'Amazon CloudWatch pricing, GetMetricData',
    perThousandMetricsRequested: 0.01,
  },
} as const;

export type Prices = typeof PRICES;

/** The CPU architecture of tenant tasks: Fargate bills Linux/ARM (Graviton) at its own rates. */
export type TaskArchitecture = 'arm64' | 'x86_64';

/**
 * The rates the running time of tasks on `architecture` is priced at, with the data's: what
 * `costOf` takes. Installations that do not say which architecture they run keep x86_64's.
 */
export function costPrices(architecture: TaskArchitecture): CostPrices {
  const fargate = architecture === 'arm64' ? PRICES.fargateArm64 : PRICES.fargate;
  return { region: PRICES.region, currency: PRICES.currency, fargate, efs: PRICES.efs };
}
