import { describe, expect, it } from 'vitest';
import { ConfigError, loadApiConfig, loadWakeConfig } from '../../shared/config.js';
import { consolePageResponse } from '../../shared/http/console-page.js';
import { brandHeader, pageCsp, supportFooter, textOnAccent, type Brand } from '../../shared/http/page-layout.js';
import { signupPageResponse } from '../../shared/http/signup-page.js';

const valid = { DORMOUSE_TABLE_NAME: 'tenants', DORMOUSE_IDEMPOTENCY_TABLE_NAME: 'idem', DORMOUSE_BASE_URL: 'https://trials.example.com' };

describe('operator branding settings', () => {
  it('reads the product name, logo, accent colour and support link, with the default accent when unset', () => {
    const branded = loadApiConfig({
      ...valid,
      DORMOUSE_BRAND_NAME: 'Acme Cloud',
      DORMOUSE_BRAND_LOGO_URL: 'https://cdn.acme.test/logo.svg',
      DORMOUSE_BRAND_ACCENT: '#0a7',
      DORMOUSE_SUPPORT_URL: 'https://acme.test/help',
    }).brand;

    expect(branded).toEqual({
      name: 'Acme Cloud',
      logoUrl: new URL('https://cdn.acme.test/logo.svg'),
      accent: '#0a7',
      supportUrl: new URL('https://acme.test/help'),
    });
    expect(loadApiConfig(valid).brand).toEqual({ accent: '#1565c0' });
    expect(loadWakeConfig({ ...valid, DORMOUSE_BRAND_NAME: 'Acme Cloud' }).brand).toEqual({ name: 'Acme Cloud', accent: '#1565c0' });
  });

  it.each([
    ['DORMOUSE_BRAND_ACCENT', 'red', /DORMOUSE_BRAND_ACCENT: must be a colour like #1565c0/],
    ['DORMOUSE_BRAND_ACCENT', '#12345g', /DORMOUSE_BRAND_ACCENT/],
    ['DORMOUSE_BRAND_ACCENT', '#000;}body{display:none', /DORMOUSE_BRAND_ACCENT/],
    ['DORMOUSE_BRAND_LOGO_URL', 'http://cdn.acme.test/logo.svg', /DORMOUSE_BRAND_LOGO_URL: must be an https:\/\/ address/],
    ['DORMOUSE_BRAND_LOGO_URL', 'javascript:alert(1)', /DORMOUSE_BRAND_LOGO_URL/],
    ['DORMOUSE_SUPPORT_URL', 'mailto:help@acme.test', /DORMOUSE_SUPPORT_URL: must be an https:\/\/ address/],
    ['DORMOUSE_SUPPORT_URL', `https://acme.test/${'x'.repeat(240)}`, /DORMOUSE_SUPPORT_URL: must be at most 256 characters/],
    ['DORMOUSE_BRAND_NAME', 'x'.repeat(61), /DORMOUSE_BRAND_NAME: must be at most 60 characters/],
  ])('refuses %s=%s at start, naming it', (name, value, message) => {
    const load = () => loadApiConfig({ ...valid, [name]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});

describe('the shared page layout', () => {
  const brand: Brand = {
    name: 'Acme <b>"Cloud"</b>',
    logoUrl: new URL('https://cdn.acme.test/a/logo.svg?v="1"'),
    accent: '#ffcc00',
    supportUrl: new URL('https://acme.test/help?topic=<x>'),
  };

  it('escapes the brand into the page: a name or address cannot add markup', () => {
    expect(brandHeader(brand)).toBe(
      '<header class="brand"><img src="https://cdn.acme.test/a/logo.svg?v=%221%22" alt=""><span>Acme &#60;b&#62;&#34;Cloud&#34;&#60;/b&#62;</span></header>\n',
    );
    expect(supportFooter(brand)).toContain('<a href="https://acme.test/help?topic=%3Cx%3E">Contact support</a>');
    expect(brandHeader({ accent: '#000' })).toBe('');
    expect(supportFooter({ accent: '#000' })).toBe('');
  });

  it("allows images from the logo's origin only, and none without a logo", () => {
    const withLogo = pageCsp({ style: 'a{}', script: 'x', brand });
    expect(withLogo).toContain('img-src https://cdn.acme.test;');
    expect(withLogo).not.toContain('/a/logo.svg');
    expect(pageCsp({ style: 'a{}', brand: { accent: '#000' } })).not.toContain('img-src');
  });

  it('writes button text in black or white, whichever reads better on the accent', () => {
    expect(textOnAccent('#ffcc00')).toBe('#000');
    expect(textOnAccent('#fff')).toBe('#000');
    expect(textOnAccent('#1565c0')).toBe('#fff');
    expect(textOnAccent('#000')).toBe('#fff');
  });

  it('brands the signup page and the console alike: name in the title and header, accent in the style, logo allowed by the CSP', () => {
    const acme: Brand = { name: 'Acme', logoUrl: new URL('https://cdn.acme.test/logo.png'), accent: '#0a7f3f' };
    for (const page of [signupPageResponse(new URL('http://localhost:8080'), acme), consolePageResponse('token', acme)]) {
      expect(page.body).toMatch(/<title>(Start your free Acme trial|Acme console)<\/title>/);
      expect(page.body).toContain('<header class="brand"><img src="https://cdn.acme.test/logo.png" alt=""><span>Acme</span></header>');
      expect(page.body).toContain('--accent:#0a7f3f;--on-accent:#fff');
      expect(page.headers?.['content-security-policy']).toContain('img-src https://cdn.acme.test;');
    }
  });
});
