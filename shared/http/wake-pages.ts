import { createHash } from 'node:crypto';
import type { WakeAnswer, WakeStep } from '../app/wake.js';

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

/** Every style of the pages, in one place (branding goes here). */
const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:Canvas;color:CanvasText}
main{max-width:34rem;padding:2rem 1.5rem}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem;overflow-wrap:anywhere}
p{margin:0 0 .75rem}
ol{margin:0 0 1rem;padding-left:1.5rem}
li{opacity:.6}
li.done{opacity:.8}
li.done::after{content:" ✓"}
li[aria-current]{opacity:1;font-weight:600}
.hint{opacity:.8;font-size:.95rem}
`.trim();

/**
 * The waking page's script: it asks for the same URL as JSON, which the wake function holds
 * while the tenant wakes and answers 307 the moment it serves; then it reloads the page, which
 * is the application by now. Meanwhile it marks the step reached. Any other answer (failed,
 * ended, the application itself) also reloads, so the page shown is always the server's. The
 * error page only reloads after its delay. Without script, a <noscript> refresh does the same.
 */
const SCRIPT = `
(() => {
  const main = document.querySelector('main');
  const wait = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const reload = () => location.reload();
  if (main.dataset.reload) return void wait(Number(main.dataset.reload)).then(reload);
  if (!('poll' in main.dataset)) return;
  const status = document.getElementById('status');
  const steps = [...document.querySelectorAll('li[data-step]')];
  const show = (step, position) => {
    const at = steps.findIndex((item) => item.dataset.step === step);
    if (at < 0) return;
    steps.forEach((item, i) => {
      item.classList.toggle('done', i < at);
      if (i === at) item.setAttribute('aria-current', 'step');
      else item.removeAttribute('aria-current');
    });
    const text = (position ? steps[at].dataset.queued.replace('N', position) : steps[at].textContent) + '.';
    if (status.textContent !== text) status.textContent = text;
  };
  (async () => {
    for (;;) {
      const asked = Date.now();
      let answer;
      try {
        answer = await fetch(location.href, { headers: { accept: 'application/json' }, redirect: 'manual', cache: 'no-store' });
      } catch {
        await wait(5);
        continue;
      }
      if (answer.type === 'opaqueredirect') return show('ready'), reload();
      const body = await answer.json().catch(() => undefined);
      if (!body || body.status !== 'waking') return reload();
      show(body.step, body.position);
      await wait(Math.max(1, (body.retryAfter || 5) - (Date.now() - asked) / 1000));
    }
  })();
})();
`.trim();

const hashOf = (text: string) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;

/** The one inline stylesheet and the one inline script, each allowed by its hash; the script may only ask its own origin. */
export const WAKE_PAGE_CSP =
  `default-src 'none'; style-src '${hashOf(STYLE)}'; script-src '${hashOf(SCRIPT)}'; connect-src 'self'; ` +
  `base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Unknown hosts and ended trials are stable answers a cache may keep for a while; progress is not. */
const CACHE_CONTROL: Record<WakePageAnswer['kind'], string> = {
  unknown: 'public, max-age=30',
  gone: 'public, max-age=300',
  failed: 'no-store',
  waking: 'no-store',
  resting: 'no-store',
  ready: 'no-store',
  error: 'no-store',
};

/** The steps of a wake in plain words, in order; the last is shown as the page opens the application. */
const STEPS: ReadonlyArray<{ step: WakeStep | 'ready'; text: string; queued?: string }> = [
  { step: 'asked', text: 'Waking it up', queued: 'Waiting for a free place, number N in line' },
  { step: 'server', text: 'Starting its server' },
  { step: 'app', text: 'Starting the application' },
  { step: 'ready', text: 'Opening it' },
];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * The page for an answer. A `ready` answer (a held request whose tenant serves now) sends the
 * client to `location`, the URL it asked for, with 307 so that the method and body are sent again.
 */
export function renderWakePage(answer: WakePageAnswer, { location = '/' }: { location?: string } = {}): RenderedPage {
  const headers: Record<string, string> = {
    'cache-control': CACHE_CONTROL[answer.kind],
    // The same URL answers HTML or JSON, so a cache must keep them apart.
    vary: 'accept',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-robots-tag': 'noindex',
  };
  if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
  if (answer.kind === 'ready') {
    return { statusCode: 307, headers: { ...headers, location, 'content-type': 'text/plain; charset=utf-8' }, body: 'Ready.\n' };
  }
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
    ...(answer.step !== undefined ? { step: answer.step } : {}),
    ...(answer.estimateSeconds !== undefined ? { estimateSeconds: answer.estimateSeconds } : {}),
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
  /** Markup between the status and the further sentences (the steps of a wake). */
  steps?: string;
  /** The page reloads by itself after this long (by script, or by a <noscript> refresh). */
  refreshSeconds?: number;
  /** The script asks for the tenant's progress, and reloads as soon as it serves. */
  poll?: boolean;
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
    // Sent as a redirect (see renderWakePage); a page only in case one is ever asked for.
    case 'ready':
      return { title: `${name} is ready`, heading: `${name} is ready`, status: 'Ready.', more: [] };
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
      const at = STEPS.findIndex(({ step }) => step === (answer.step ?? 'asked'));
      const current = STEPS[at]!;
      const text = answer.position !== undefined && current.queued ? current.queued.replace('N', String(answer.position)) : current.text;
      const items = STEPS.map(
        ({ step, text, queued }, i) =>
          `\n<li data-step="${step}"${queued ? ` data-queued="${queued}"` : ''}${i < at ? ' class="done"' : ''}${i === at ? ' aria-current="step"' : ''}>${text}</li>`,
      );
      return {
        title: `Waking up ${name}…`,
        heading: `Waking up ${name}…`,
        status: `${escapeHtml(text)}.`,
        steps: `\n<ol>${items.join('')}\n</ol>`,
        more: [`${estimate(answer.estimateSeconds)} This page shows ${name} as soon as it is ready.`],
        refreshSeconds: answer.retryAfter ?? 5,
        poll: true,
      };
    }
  }
}

/** From the median of recent wakes, rounded up to 5 s; a general sentence before any was measured. */
function estimate(seconds: number | undefined): string {
  if (seconds === undefined) return 'This usually takes under a minute.';
  const rounded = Math.max(5, Math.ceil(seconds / 5) * 5);
  return rounded >= 120 ? `This usually takes about ${Math.round(rounded / 60)} minutes.` : `This usually takes about ${rounded} seconds.`;
}

function html(answer: WakePageAnswer): string {
  const { title, heading, status, more, steps = '', refreshSeconds, poll } = content(answer);
  // Script-driven where it runs (a meta refresh is an accessibility failure); a refresh without it.
  const refresh = refreshSeconds !== undefined ? `\n<noscript><meta http-equiv="refresh" content="${refreshSeconds}"></noscript>` : '';
  const script = refreshSeconds !== undefined ? `\n<script>${SCRIPT}</script>` : '';
  const data = poll ? ' data-poll' : refreshSeconds !== undefined ? ` data-reload="${refreshSeconds}"` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<main${data}>
<h1>${heading}</h1>
<p role="status" aria-live="polite" id="status">${status}</p>${steps}${more.map((sentence) => `\n<p>${sentence}</p>`).join('')}
</main>${script}
</body>
</html>
`;
}
