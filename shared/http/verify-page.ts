import { escapeHtml } from './wake-pages.js';
import type { HttpResponse } from './responses.js';

/** The small page a confirmation link opens: it says what happened and where to go next. */
export function verifyPage(statusCode: number, title: string, message: string, link?: { href: string; text: string }): HttpResponse {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
${link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}</body></html>`;
  return {
    statusCode,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // The code in the address must not be kept by caches or sent on to the next site.
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    },
    body,
  };
}
