import { createHash } from 'node:crypto';
import type { Phase } from '../domain/tenant.js';
import type { WakeAnswer } from '../app/wake.js';

/**
 * The pages the wake function answers with: small, self-contained (no external assets, so a
 * sleeping platform serves them whole), readable by screen readers, and equally available as
 * JSON for scripts that send `Accept: application/json`.
 */

/** Our side failed; details are in the log. The page reloads after a while. */
export interface TroubleAnswer {
  status: 503;
  kind: 'error';
  format: 'html' | 'json';
  retryAfter: number;
}

export type WakePageAnswer = WakeAnswer | TroubleAnswer;

export interface RenderedPage {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export const TROUBLE_RETRY_SECONDS = 30;

export function troubleAnswer(format: 'html' | 'json'): TroubleAnswer {
  return { status: 503, kind: 'error', format, retryAfter: TROUBLE_RETRY_SECONDS };
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:Canvas;color:CanvasText}
main{max-width:34rem;padding:2rem 1.5rem}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem;overflow-wrap:anywhere}
p{margin:0 0 .75rem}
.hint{opacity:.8;font-size:.95rem}
`.trim();

/** The one inline stylesheet, allowed by its hash: the pages need no other source at all. */
const STYLE_HASH = `sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}`;
export const WAKE_PAGE_CSP = `default-src 'none'; style-src '${STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Unknown hosts and ended trials are stable answers a cache may keep for a while; progress is not. */
const CACHE_CONTROL: Record<WakePageAnswer['kind'], string> = {
  unknown: 'public, max-age=30',
  gone: 'public, max-age=300',
  failed: 'no-store',
  waking: 'no-store',
  resting: 'no-store',
  error: 'no-store',
};

const PHASE_TEXT: Record<Phase, string> = {
  PendingVerification: 'Waiting for its owner to confirm the email address',
  Pending: 'Getting ready to start',
  Queued: 'Waiting for a free slot',
  Provisioning: 'Starting',
  Running: 'Almost ready',
  Passivating: 'Asleep, waking up',
  Passivated: 'Asleep, waking up',
  Waking: 'Waking up',
  Failed: 'Could not start',
  Deleting: 'Being deleted',
  Deleted: 'Deleted',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function renderWakePage(answer: WakePageAnswer): RenderedPage {
  const headers: Record<string, string> = {
    'cache-control': CACHE_CONTROL[answer.kind],
    // The same URL answers HTML or JSON, so a cache must keep them apart.
    vary: 'accept',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-robots-tag': 'noindex',
  };
  if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
  if (answer.format === 'json') {
    return {
      statusCode: answer.status,
      headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(jsonBody(answer)),
    };
  }
  return {
    statusCode: answer.status,
    headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': WAKE_PAGE_CSP },
    body: html(answer),
  };
}

/** `status` is the kind of answer in a word; the HTTP status is on the response itself. */
function jsonBody(answer: WakePageAnswer) {
  if (answer.kind === 'error') return { status: answer.kind, retryAfter: answer.retryAfter };
  return {
    ...(answer.tenant !== undefined ? { tenant: answer.tenant } : {}),
    ...(answer.phase !== undefined ? { phase: answer.phase } : {}),
    status: answer.kind,
    ...(answer.retryAfter !== undefined ? { retryAfter: answer.retryAfter } : {}),
    ...(answer.position !== undefined ? { position: answer.position } : {}),
    ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
  };
}

interface Content {
  title: string;
  /** Already escaped. */
  heading: string;
  /** The progress or outcome sentence, announced politely by screen readers. Already escaped. */
  status: string;
  /** Further sentences. Already escaped. */
  more: string[];
  refreshSeconds?: number;
}

function content(answer: WakePageAnswer): Content {
  if (answer.kind === 'error') {
    return {
      title: 'Please try again',
      heading: 'Something went wrong on our side',
      status: 'Please try again in a moment.',
      more: [`This page reloads by itself in ${answer.retryAfter} seconds.`],
      refreshSeconds: answer.retryAfter,
    };
  }
  const name = escapeHtml(answer.tenant ?? '');
  switch (answer.kind) {
    case 'unknown':
      return {
        title: 'No trial here',
        heading: 'There is no trial at this address',
        status: 'Check the address for typing mistakes.',
        more: [],
      };
    case 'gone':
      return {
        title: 'This trial has ended',
        heading: 'This trial has ended',
        status: `The trial environment <strong>${name}</strong> has ended or was deleted, and is no longer available.`,
        more: [],
      };
    case 'failed':
      return {
        title: `${name} could not be started`,
        heading: `${name} could not be started`,
        status: escapeHtml(answer.reason ?? 'It could not be started.'),
        more: [
          'It will not start by itself: its owner can wake it again once the problem is solved.',
          'This page does not reload by itself.',
        ],
      };
    case 'resting': {
      const minutes = Math.max(1, Math.ceil((answer.retryAfter ?? 60) / 60));
      return {
        title: `${name} is asleep`,
        heading: `${name} is asleep`,
        status: `It has been woken up by visits as often as an hour allows. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
        more: ['Its owner can wake it up at any time.', 'This page does not reload by itself.'],
      };
    }
    case 'waking': {
      const phase = answer.phase ? PHASE_TEXT[answer.phase] : 'Starting';
      const place = answer.position !== undefined ? ` (number ${answer.position} in line)` : '';
      const every = answer.retryAfter ?? 5;
      return {
        title: `Waking up ${name}…`,
        heading: `Waking up ${name}…`,
        status: `${escapeHtml(phase)}${place}. This usually takes under a minute.`,
        more: [`This page reloads by itself every ${every} seconds and shows ${name} as soon as it is ready.`],
        refreshSeconds: every,
      };
    }
  }
}

function html(answer: WakePageAnswer): string {
  const { title, heading, status, more, refreshSeconds } = content(answer);
  const refresh = refreshSeconds !== undefined ? `\n<meta http-equiv="refresh" content="${refreshSeconds}">` : '';
  const phase = answer.kind !== 'error' && answer.phase ? `\n<p class="hint">Current step: ${escapeHtml(answer.phase)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${heading}</h1>
<p role="status" aria-live="polite">${status}</p>${more.map((sentence) => `\n<p>${sentence}</p>`).join('')}${phase}
</main>
</body>
</html>
`;
}
