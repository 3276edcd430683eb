/**
 * Names of the CloudWatch metrics the functions publish (Powertools Metrics, EMF) that alarms
 * are set on: the function code and the CDK alarms read them from here, so they cannot drift.
 */
export const METRICS_NAMESPACE = 'Dormouse';
/** Powertools adds the service name as the `service` dimension of every metric. */
export const SWEEP_SERVICE = 'dormouse-sweep';
/** Tenants the sweep found sitting in a passing phase (Provisioning, Deleting, …) for too long. */
export const TENANTS_STUCK_METRIC = 'TenantsStuck';
