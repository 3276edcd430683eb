import { createHash } from 'node:crypto';

/**
 * What every page Dormouse shows people shares: the operator's brand (product name, logo,
 * accent colour, support link), one stylesheet with a card layout, and a strict Content-Security-
 * Policy that allows the page's own inline script and style by their hashes and, for images,
 * the logo's origin only. The signup page and the operator console use it; the waking, failed
 * and gone pages can adopt it the same way.
 */

export interface Brand {
  /** The operator's product name; absent: the pages speak of "your trial" only. */
  name?: string;
  /** An https image shown next to the name. */
  logoUrl?: URL;
  /** `#rrggbb` or `#rgb`: buttons, focus rings and the spinner. */
  accent: string;
  /** Where visitors get help: an https page. */
  supportUrl?: URL;
}

export const DEFAULT_ACCENT = '#1565c0';
export const DEFAULT_BRAND: Brand = { accent: DEFAULT_ACCENT };

/** `#1565c0` or `#fff`: no names, functions or anything else a stylesheet would interpret. */
export const ACCENT_PATTERN = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}

/** The accent as six hex digits, lowercase. */
function longHex(accent: string): string {
  const hex = accent.slice(1).toLowerCase();
  return hex.length === 3 ? [...hex].map((digit) => digit + digit).join('') : hex;
}

/** WCAG relative luminance of an sRGB colour. */
function luminance(hex: string): number {
  const channel = (offset: number) => {
    const value = parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
}

/**
 * Black or white, whichever reads better on the accent: any accent the operator picks keeps its
 * button text legible (the higher of the two contrast ratios is always at least 4.58:1).
 */
export function textOnAccent(accent: string): '#000' | '#fff' {
  const l = luminance(longHex(accent));
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#000' : '#fff';
}

/**
 * The shared stylesheet: a centred card on a quiet background, an accent button, a spinner that
 * stands still for people who ask for less motion, light and dark schemes. `extra` is the page's own.
 */
export function pageStyle(brand: Brand, extra = ''): string {
  return `
:root{color-scheme:light dark;--accent:#${longHex(brand.accent)};--on-accent:${textOnAccent(brand.accent)};--bg:#f3f4f6;--card:#fff;--text:#111827;--muted:#4b5563;--line:#d1d5db;--danger:#b91c1c;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
@media (prefers-color-scheme:dark){:root{--bg:#111827;--card:#1f2937;--text:#f9fafb;--muted:#d1d5db;--line:#4b5563;--danger:#fca5a5}}
body{margin:0;padding:0 1rem;min-height:100vh;background:var(--bg);color:var(--text)}
[hidden]{display:none!important}
.brand{display:flex;align-items:center;gap:.6rem;max-width:34rem;margin:0 auto;padding:1.5rem .25rem 0;font-weight:700;font-size:1.1rem}
.brand img{height:2rem;width:auto}
main{max-width:34rem;margin:1rem auto 2rem;padding:2rem 1.75rem;background:var(--card);border:1px solid var(--line);border-radius:.9rem;box-shadow:0 8px 24px rgb(0 0 0 / .08)}
body.wide .brand,body.wide main,body.wide footer{max-width:72rem}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.25rem;margin:0 0 .75rem}
p{margin:0 0 .75rem}
.muted,.hint{color:var(--muted)}
.hint{margin:.15rem 0 .35rem;font-size:.95rem}
a{color:inherit;text-underline-offset:.15em}
label{display:block;font-weight:600}
input,select{font:inherit;color:inherit;background:var(--card);width:100%;box-sizing:border-box;padding:.55rem .65rem;border:1px solid var(--muted);border-radius:.45rem}
input[aria-invalid=true]{border:2px solid var(--danger)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.error{color:var(--danger);font-weight:600;margin:.35rem 0 0}
button{font:inherit;padding:.55rem 1.1rem;border-radius:.45rem;border:1px solid var(--muted);background:var(--card);color:var(--text);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent);font-weight:600}
button:disabled{opacity:.65;cursor:progress}
code{font-size:.95rem;overflow-wrap:anywhere;padding:.15rem .35rem;border:1px solid var(--line);border-radius:.3rem}
.spinner{display:inline-block;width:1rem;height:1rem;margin-right:.5rem;vertical-align:-.15rem;border:3px solid var(--line);border-top-color:var(--accent);border-radius:50%;animation:spin .8s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.spinner{animation:none}}
footer{max-width:34rem;margin:0 auto 2rem;padding:0 .25rem;font-size:.9rem;color:var(--muted)}
${extra}`.trim();
}

/** The brand line above the card: logo (decorative: the name says it) and name, if either is set. */
export function brandHeader(brand: Brand): string {
  if (!brand.name && !brand.logoUrl) return '';
  const logo = brand.logoUrl ? `<img src="${escapeHtml(brand.logoUrl.href)}" alt="">` : '';
  const name = brand.name ? `<span>${escapeHtml(brand.name)}</span>` : '';
  return `<header class="brand">${logo}${name}</header>\n`;
}

/** The support link below the card, if the operator gave one. */
export function supportFooter(brand: Brand): string {
  return brand.supportUrl ? `<footer><p>Need help? <a href="${escapeHtml(brand.supportUrl.href)}">Contact support</a></p></footer>\n` : '';
}

export interface PageSources {
  style: string;
  script?: string;
  brand: Brand;
}

/** Only the page's own script and style; images from the logo's origin only; requests to this origin only. */
export function pageCsp({ style, script, brand }: PageSources): string {
  return [
    "default-src 'none'",
    ...(script !== undefined ? [`script-src '${sha256(script)}'`] : []),
    `style-src '${sha256(style)}'`,
    ...(brand.logoUrl ? [`img-src ${brand.logoUrl.origin}`] : []),
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The headers every such page is served with. */
export function pageHeaders(csp: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    // Revalidated on every visit, so a deploy that changes the script never meets a stale CSP.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}
