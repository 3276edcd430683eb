import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CfnStage,
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type HttpRoute,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag.js';

export interface TenantApiProps {
  readonly handler: IFunction;
  /** Steady-state requests per second and burst, for every route without its own below. */
  readonly throttle: Throttle;
  /** For signups and confirmation links: each signup may start a paid task. */
  readonly signupThrottle: Throttle;
  /** For status reads (GET /tenants/{id}), which the signup page polls. */
  readonly statusThrottle: Throttle;
  /** Origins of the signup page; `['*']` allows any. */
  readonly corsAllowOrigins: string[];
  readonly logRetention: RetentionDays;
}

export interface Throttle {
  readonly rate: number;
  readonly burst: number;
}

/** Routes throttled on their own, so pollers and signups do not use up each other's budget. */
export const SIGNUP_ROUTE_KEYS = ['POST /tenants', 'GET /verify'] as const;
export const STATUS_ROUTE_KEYS = ['GET /tenants/{id}'] as const;

/** Anyone may call these: signup, status, and commands a tenant's own token authorises. */
export const PUBLIC_ROUTES: ReadonlyArray<{ method: HttpMethod; path: string }> = [
  { method: HttpMethod.GET, path: '/' },
  { method: HttpMethod.GET, path: '/healthz' },
  { method: HttpMethod.GET, path: '/manage' },
  { method: HttpMethod.GET, path: '/plans' },
  { method: HttpMethod.POST, path: '/tenants' },
  { method: HttpMethod.GET, path: '/verify' },
  { method: HttpMethod.GET, path: '/tenants/{id}' },
  { method: HttpMethod.DELETE, path: '/tenants/{id}' },
  { method: HttpMethod.POST, path: '/tenants/{id}/passivate' },
  { method: HttpMethod.POST, path: '/tenants/{id}/wake' },
  { method: HttpMethod.POST, path: '/tenants/{id}/retry' },
  { method: HttpMethod.POST, path: '/tenants/{id}/export' },
  { method: HttpMethod.GET, path: '/tenants/{id}/usage' },
  { method: HttpMethod.GET, path: '/tenants/{id}/events' },
  { method: HttpMethod.GET, path: '/tenants/{id}/logs' },
];

/** Only IAM-signed requests reach these; the handler reads the signer from the request context. */
export const ADMIN_ROUTES: ReadonlyArray<{ method: HttpMethod; path: string }> = [
  { method: HttpMethod.ANY, path: '/admin/{proxy+}' },
  { method: HttpMethod.GET, path: '/tenants' },
];

/**
 * The tenant API on API Gateway (HTTP API, payload format 2.0): public signup and status
 * routes, admin routes behind the IAM authorizer, stage-wide throttling and access logs.
 */
export class TenantApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: TenantApiProps) {
    super(scope, id);
    const integration = new HttpLambdaIntegration('Handler', props.handler, {
      payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      // One invoke permission for the whole API instead of one per route: every route is this handler.
      scopePermissionToRoute: false,
    });

    this.httpApi = new HttpApi(this, 'HttpApi', {
      apiName: `${Stack.of(this).stackName}-tenants`,
      description: 'Dormouse tenant API',
      createDefaultStage: false,
      // Paths and methods without a route still reach the handler, so they get its JSON 404/405
      // rather than API Gateway's; the handler enforces admin-only paths itself as well.
      defaultIntegration: integration,
      corsPreflight: {
        // A wildcard is safe here only because no route relies on ambient credentials (cookies):
        // tenant tokens and SigV4 signatures are sent explicitly, so allowCredentials stays false.
        allowOrigins: props.corsAllowOrigins,
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.DELETE],
        allowHeaders: ['content-type', 'authorization', 'idempotency-key'],
        exposeHeaders: ['location'],
        allowCredentials: false,
        maxAge: Duration.hours(1),
      },
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rate, burstLimit: props.throttle.burst },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            iamUser: '$context.identity.userArn',
          }),
        ),
      },
    });

    const routes: HttpRoute[] = [];
    for (const { method, path } of PUBLIC_ROUTES) {
      for (const route of this.httpApi.addRoutes({ path, methods: [method], integration })) {
        routes.push(route);
        acknowledge(
          route,
          'AwsSolutions-APIG4',
          `${method} ${path} is public by design (signup and status pages); tenant commands check the tenant's bearer token in the handler, and the stage is throttled.`,
        );
      }
    }
    this.throttleRoutes(routes, props);
    const iam = new HttpIamAuthorizer();
    for (const { method, path } of ADMIN_ROUTES) {
      this.httpApi.addRoutes({ path, methods: [method], integration, authorizer: iam });
    }
    const defaultRoute = this.httpApi.node.tryFindChild('DefaultRoute') as HttpRoute | undefined;
    if (defaultRoute) {
      acknowledge(
        defaultRoute,
        'AwsSolutions-APIG4',
        "$default only turns unknown paths and methods into the handler's JSON 404/405; admin paths that land here are refused by the handler without IAM context.",
      );
    }
  }

  /**
   * Route-level throttling on the stage (the L2 construct has stage-wide settings only). The
   * stage is deployed after the routes, since route settings must name existing routes.
   */
  private throttleRoutes(routes: HttpRoute[], props: TenantApiProps): void {
    // RouteSettings is plain JSON to CloudFormation: its keys are written as CloudFormation spells them.
    const setting = ({ rate, burst }: Throttle) => ({ ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst });
    const routeSettings: Record<string, ReturnType<typeof setting>> = {};
    for (const key of SIGNUP_ROUTE_KEYS) routeSettings[key] = setting(props.signupThrottle);
    for (const key of STATUS_ROUTE_KEYS) routeSettings[key] = setting(props.statusThrottle);
    (this.stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    for (const route of routes) this.stage.node.addDependency(route);
  }

  /** What an administrator must be allowed to `execute-api:Invoke`: the admin routes only. */
  get adminRouteArns(): string[] {
    return ADMIN_ROUTES.map(({ method, path }) =>
      this.httpApi.arnForExecuteApi(method === HttpMethod.ANY ? '*' : method, path.replace(/\{[^}]+\+?\}/g, '*'), '$default'),
    );
  }

  /** Lets `grantee` (an operator role, say) call the admin routes, which the IAM authorizer guards. */
  grantAdminAccess(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: this.adminRouteArns });
  }

  /** The API's base URL (default stage), ending in `/`. */
  get url(): string {
    return this.stage.url;
  }
}
