import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDormouseConfig } from '../../cdk/config.js';
import { functionId, resourcesOf, synthesize, type Synthesized, configProblems, MINIMAL_CONFIG } from './support.js';

const BRANDING = { name: 'Acme Cloud', logoUrl: 'https://cdn.acme.test/logo.svg', accent: '#0a7f3f', supportUrl: 'https://acme.test/help' };

describe('dormouse.branding', () => {
  it('defaults to no branding and the default accent', () => {
    expect(parseDormouseConfig(MINIMAL_CONFIG).branding).toEqual({ accent: '#1565c0' });
    expect(parseDormouseConfig({ ...MINIMAL_CONFIG, branding: BRANDING }).branding).toEqual(BRANDING);
  });

  it('refuses what the functions would refuse at start, with their words', () => {
    expect(
      configProblems({
        ...MINIMAL_CONFIG,
        branding: { accent: 'green', logoUrl: 'http://cdn.acme.test/logo.svg', supportUrl: 'mailto:x@acme.test', colour: 1 },
      }),
    ).toEqual(
      expect.arrayContaining([
        'dormouse.branding.accent: must be a colour like #1565c0 or #c60',
        'dormouse.branding.logoUrl: must be an https:// address',
        'dormouse.branding.supportUrl: must be an https:// address',
        'dormouse.branding: unknown key "colour" (check the spelling)',
      ]),
    );
  });
});

describe('the stack with branding', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesize({ ...MINIMAL_CONFIG, branding: BRANDING });
  }, 120_000);
  afterAll(() => synth?.cleanup());

  it('writes the branding to the API and wake functions, and to no other', () => {
    const functions = resourcesOf(synth.template, 'AWS::Lambda::Function');
    const variables = (service: string) => functions[functionId(synth.template, service)]!.Properties.Environment.Variables;
    const expected = {
      DORMOUSE_BRAND_NAME: 'Acme Cloud',
      DORMOUSE_BRAND_LOGO_URL: 'https://cdn.acme.test/logo.svg',
      DORMOUSE_BRAND_ACCENT: '#0a7f3f',
      DORMOUSE_SUPPORT_URL: 'https://acme.test/help',
    };

    expect(variables('dormouse-api')).toMatchObject(expected);
    expect(variables('dormouse-wake')).toMatchObject(expected);
    const others = Object.values(functions).filter(
      (fn) => !['dormouse-api', 'dormouse-wake'].includes(fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME),
    );
    for (const fn of others)
      expect(Object.keys(fn.Properties.Environment?.Variables ?? {}).filter((name) => /BRAND|SUPPORT/.test(name))).toEqual([]);
  });

  it("gives the wake function the address of the API's self-service page, for the failed page's link", () => {
    const functions = resourcesOf(synth.template, 'AWS::Lambda::Function');
    const wake = functions[functionId(synth.template, 'dormouse-wake')]!.Properties.Environment.Variables;

    expect(wake.DORMOUSE_MANAGE_URL).toEqual({
      'Fn::Join': [
        '',
        ['https://', { Ref: expect.stringMatching(/^ApiHttpApi/) }, '.execute-api.us-east-1.', { Ref: 'AWS::URLSuffix' }, '/manage'],
      ],
    });
  });
});
