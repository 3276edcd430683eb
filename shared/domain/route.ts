/** Target health as the load balancer reports it. */
export type TargetHealth = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface Target {
  ip: string;
  health: TargetHealth;
  /** Why an unhealthy target fails its health check, as a sentence a person can act on. */
  reason?: string;
}

export interface HostRule {
  arn: string;
  priority: number;
  targetGroupArn: string;
}
