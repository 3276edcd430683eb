import type { Env } from '../../shared/config.js';

export const TEST_LISTENER_ARN =
  'arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/dormouse/50dc6c495c0c9188/f2f7dc8efc522ab2';

/** The reconcile function's environment as the CDK app writes it, for a stateless installation `prod`. */
export function reconcilerEnv(overrides: Env = {}): Env {
  return {
    DORMOUSE_TABLE_NAME: 'tenants',
    DORMOUSE_INSTALLATION: 'prod',
    DORMOUSE_BASE_URL: 'https://trials.example.com',
    DORMOUSE_CLUSTER: 'dormouse',
    DORMOUSE_TASK_DEFINITION: 'dormouse-tenant:3',
    DORMOUSE_SUBNETS: 'subnet-a',
    DORMOUSE_SECURITY_GROUPS: 'sg-a',
    DORMOUSE_VPC_ID: 'vpc-0abc',
    DORMOUSE_LISTENER_ARN: TEST_LISTENER_ARN,
    ...overrides,
  };
}
