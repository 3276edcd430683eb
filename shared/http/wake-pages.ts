import type { WakeAnswer, WakeStep } from '../app/wake.js';
import { brandHeader, DEFAULT_BRAND, escapeHtml, pageCsp, pageStyle, supportFooter, type Brand } from './page-layout.js';

/**
 * The pages the wake function answers with: small, self-contained (no external assets, so a
 * sleeping platform serves them whole), readable by screen readers, and equally available as
 * JSON for scripts that send `Accept: application/json`. They share the signup page's layout
 * and the operator's branding; the logo, when there is one, is the only thing loaded from elsewhere.
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

/** The steps list's own rules, on top of the shared layout. */
const WAKE_STYLE = `
ol{margin:0 0 1rem;padding-left:1.5rem}
li{color:var(--muted)}
li.done::after{content:" ✓"}
li[aria-current]{color:var(--text);font-weight:600}
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

/** The stylesheet and the Content-Security-Policy for a brand: the one inline script and style, each allowed by its hash. */
export function wakePageSources(brand: Brand): { style: string; csp: string } {
  const style = pageStyle(brand, WAKE_STYLE);
  return { style, csp: pageCsp({ style, script: SCRIPT, brand }) };
}

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

// One escaping for every page; the verify page and the outbox take it from here.
export { escapeHtml };

export interface WakePageOptions {
  /** The URL the client asked for, where a `ready` answer sends it back to. @default '/' */
  location?: string;
  /** @default no branding */
  brand?: Brand;
  /**
   * The self-service page, where a tenant's owner wakes or retries it; the failed page links to
   * it with the tenant's id in the fragment. @default no link
   */
  manageUrl?: URL;
}

/**
 * The page for an answer. A `ready` answer (a held request whose tenant serves now) sends the
 * client to `location`, the URL it asked for, with 307 so that the method and body are sent again.
 */
export function renderWakePage(answer: WakePageAnswer, options: WakePageOptions = {}): RenderedPage {
  const { location = '/', brand = DEFAULT_BRAND } = options;
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
  const { style, csp } = wakePageSources(brand);
  return {
    statusCode: answer.status,
    headers: { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp },
    body: html(content(answer, options.manageUrl), style, brand),
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
  /** A spinner stands before the status while the tenant wakes. */
  busy?: boolean;
  /** The page reloads by itself after this long (by script, or by a <noscript> refresh). */
  refreshSeconds?: number;
  /** The script asks for the tenant's progress, and reloads as soon as it serves. */
  poll?: boolean;
}

/** The self-service page for one tenant: its id travels in the fragment, which no server sees. */
function manageLink(manageUrl: URL, tenant: string): string {
  const url = new URL(manageUrl);
  url.hash = encodeURIComponent(tenant);
  return url.href;
}

function content(answer: WakePageAnswer, manageUrl?: URL): Content {
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
          manageUrl && answer.tenant
            ? `It will not start by itself. If it is yours, you can <a href="${escapeHtml(manageLink(manageUrl, answer.tenant))}">try starting it again</a> with your token.`
            : 'It will not start by itself: its owner can start it again once the problem is solved.',
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
        busy: true,
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

function html(page: Content, style: string, brand: Brand): string {
  const { title, heading, status, more, steps = '', refreshSeconds, poll, busy } = page;
  // Script-driven where it runs (a meta refresh is an accessibility failure); a refresh without it.
  const refresh = refreshSeconds !== undefined ? `\n<noscript><meta http-equiv="refresh" content="${refreshSeconds}"></noscript>` : '';
  const script = refreshSeconds !== undefined ? `\n<script>${SCRIPT}</script>` : '';
  const data = poll ? ' data-poll' : refreshSeconds !== undefined ? ` data-reload="${refreshSeconds}"` : '';
  const spinner = busy ? '<span class="spinner" aria-hidden="true"></span>' : '';
  const product = brand.name ? ` · ${escapeHtml(brand.name)}` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${title}${product}</title>
<style>${style}</style>
</head>
<body>
${brandHeader(brand)}<main${data}>
<h1>${heading}</h1>
<p>${spinner}<span role="status" aria-live="polite" id="status">${status}</span></p>${steps}${more.map((sentence) => `\n<p>${sentence}</p>`).join('')}
</main>
${supportFooter(brand)}${script.slice(1)}${script ? '\n' : ''}</body>
</html>
`;
}
