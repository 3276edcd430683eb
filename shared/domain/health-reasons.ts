/**
 * Why a load balancer target is not healthy, in words a person can act on. The reason codes
 * and descriptions are ELBv2's (DescribeTargetHealth `TargetHealth.Reason` and `Description`);
 * the local gateway reports the same ones, so both say the same thing.
 */
export function explainHealthCheck(path: string, code: string | undefined, description: string | undefined): string | undefined {
  const check = `GET ${path}`;
  switch (code) {
    case 'Target.ResponseCodeMismatch': {
      // "Health checks failed with these codes: [404]"
      const codes = /\[([^\]]*)\]/.exec(description ?? '')?.[1]?.trim();
      const answered = codes ? ` (it answered ${codes})` : '';
      return `The application does not answer ${check} with a 2xx or 3xx status${answered}. Make it answer there, or change the health check path.`;
    }
    case 'Target.Timeout':
      return `The application does not answer ${check} in time: the health check timed out. Check that it answers quickly on its port.`;
    case 'Target.FailedHealthChecks':
      return `The application does not answer ${check}: the health check could not connect or got no valid HTTP answer. Check that it listens on its port.`;
    case undefined:
      return undefined;
    default:
      return `The application does not pass its health check on ${check} (${code}${description ? `: ${description}` : ''}).`;
  }
}
