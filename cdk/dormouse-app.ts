import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DormouseStack, type DormouseStackProps } from './dormouse-stack.js';

export const STACK_NAME = 'Dormouse';

/**
 * The Dormouse app as `cdk synth` and `cdk deploy` build it, with the AWS Solutions checks of
 * cdk-nag run at synth: a finding that is not acknowledged with a reason fails the synth.
 */
export function createDormouseApp(appProps: AppProps = {}, stackProps: DormouseStackProps = {}): { app: App; stack: DormouseStack } {
  const app = new App(appProps);
  const stack = new DormouseStack(app, STACK_NAME, stackProps);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
