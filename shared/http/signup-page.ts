import { createHash } from 'node:crypto';
import { SLUG_MAX_LENGTH, SLUG_MIN_LENGTH } from '../domain/slug.js';
import type { HttpResponse } from './responses.js';
import { escapeHtml } from './wake-pages.js';

/**
 * `GET /`: the signup page. One self-contained document: no external assets, no framework, an
 * inline script and stylesheet allowed by their hashes in a strict Content-Security-Policy.
 * It calls the same public API anyone can (`POST /tenants`, then `GET /tenants/{id}`), with
 * URLs relative to the page so it works under any stage or prefix.
 */

/**
 * The HTML `pattern` for a slug (browsers anchor it and compile it with the `v` flag). It
 * covers the character rules; length is `minlength`/`maxlength`, and reserved names are left
 * to the API, which says so next to the field.
 */
export const SLUG_PATTERN = '[a-z](?:[a-z0-9]|-(?!-))*[a-z0-9]';

/**
 * Pure helpers first, so tests can run them without a browser; then `signupPage`, which wires
 * them to the document, `fetch` and a timer, all passed in for the same reason.
 */
export const SIGNUP_SCRIPT = String.raw`'use strict';
var FORM_FIELDS = { slug: 'The name', email: 'The email address' };
var POLL_FIRST_MS = 2000;
var POLL_MAX_MS = 15000;

/**
 * The wait after a poll that followed a wait of ms: half as long again, up to POLL_MAX_MS. A
 * tenant that takes a while is then asked about a few times a minute, not thirty.
 */
function nextPollMs(ms) {
  return Math.min(POLL_MAX_MS, Math.round(ms * 1.5));
}

function phaseText(tenant) {
  if (tenant.desired === 'deleted') return 'This trial was deleted.';
  switch (tenant.phase) {
    case 'PendingVerification':
      return 'Check your inbox: we sent you a link to confirm your email address. Your trial starts when you open it (within 24 hours).';
    case 'Pending': return 'Signed up. Waiting to start…';
    case 'Queued': return 'Waiting for a free slot…';
    case 'Provisioning': return 'Starting your environment…';
    case 'Waking': return 'Waking up…';
    case 'Running': return 'Ready.';
    case 'Passivating':
    case 'Passivated': return 'Asleep. Opening it wakes it up.';
    case 'Failed': return 'It could not be started: ' + (tenant.reason || 'no reason was given.');
    case 'Deleting':
    case 'Deleted': return 'This trial was deleted.';
    default: return 'Status: ' + tenant.phase;
  }
}

/** 'ready' or 'asleep' (show the link), 'failed' or 'gone' (stop), or '' (keep polling). */
function outcome(tenant) {
  if (tenant.desired === 'deleted' || tenant.phase === 'Deleting' || tenant.phase === 'Deleted') return 'gone';
  if (tenant.phase === 'Running') return 'ready';
  if (tenant.phase === 'Passivated') return 'asleep';
  if (tenant.phase === 'Failed') return 'failed';
  return '';
}

/** The API's error body as messages next to the form's fields, and the rest for the form as a whole. */
function formErrors(body) {
  var error = (body && body.error) || {};
  var fields = error.fields || {};
  var result = { fields: {}, general: [] };
  Object.keys(fields).forEach(function (name) {
    if (Object.prototype.hasOwnProperty.call(FORM_FIELDS, name)) result.fields[name] = FORM_FIELDS[name] + ' ' + fields[name] + '.';
    else result.general.push(name + ' ' + fields[name] + '.');
  });
  if (Object.keys(result.fields).length === 0 && result.general.length === 0) {
    result.general.push(error.message || 'Something went wrong. Please try again.');
  }
  return result;
}

function newKey(crypto) {
  if (crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // The API wants at least 16 characters; this is well over that.
  return 'k-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

function signupPage(doc, http, later, crypto) {
  var byId = function (id) { return doc.getElementById(id); };
  var form = byId('signup');
  var submit = byId('submit');
  var formError = byId('form-error');
  var progress = byId('progress');
  var attempt = null;

  function fieldError(name, message) {
    var input = byId(name);
    var error = byId(name + '-error');
    error.textContent = message;
    error.hidden = !message;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function say(element, text) {
    // Live regions announce every change; only real changes are worth announcing.
    if (element.textContent !== text) element.textContent = text;
  }

  function alertText(text) {
    say(formError, text);
    formError.hidden = !text;
  }

  function call(path, init) {
    return http(path, init).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    });
  }

  /** Asks for the tenant's status, then again after waitMs, longer each time, until it ends. */
  function poll(tenant, waitMs) {
    var again = function () { later(function () { poll(tenant, nextPollMs(waitMs)); }, waitMs); };
    call('tenants/' + encodeURIComponent(tenant.id), { headers: { accept: 'application/json' } }).then(
      function (answer) {
        if (answer.status === 404) return say(progress, 'This trial no longer exists.');
        if (answer.status !== 200) return again();
        say(progress, phaseText(answer.data));
        var end = outcome(answer.data);
        if (end === 'ready' || end === 'asleep') byId('ready').hidden = false;
        else if (!end) again();
      },
      again
    );
  }

  function started(tenant) {
    form.hidden = true;
    byId('token').textContent = tenant.token;
    var link = byId('tenant-link');
    link.href = tenant.url;
    link.textContent = tenant.url;
    byId('result').hidden = false;
    byId('result-heading').focus();
    say(progress, phaseText(tenant));
    poll(tenant, POLL_FIRST_MS);
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (submit.disabled) return;
    Object.keys(FORM_FIELDS).forEach(function (name) { fieldError(name, ''); });
    alertText('');
    var body = JSON.stringify({ slug: byId('slug').value.trim(), email: byId('email').value.trim() });
    // The same key for the same body, so a retry after a lost answer returns the first one.
    if (!attempt || attempt.body !== body) attempt = { body: body, key: newKey(crypto) };
    submit.disabled = true;
    call('tenants', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'idempotency-key': attempt.key },
      body: body
    }).then(
      function (answer) {
        submit.disabled = false;
        if (answer.status === 202) return started(answer.data);
        var errors = formErrors(answer.data);
        var first = null;
        Object.keys(errors.fields).forEach(function (name) {
          fieldError(name, errors.fields[name]);
          first = first || name;
        });
        alertText(errors.general.join(' '));
        if (first) byId(first).focus();
      },
      function () {
        submit.disabled = false;
        alertText('Could not reach the server. Check your connection and try again.');
      }
    );
  });
}

if (typeof document !== 'undefined') {
  signupPage(document, fetch.bind(window), setTimeout.bind(window), window.crypto);
}
`;

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
body{margin:0;background:Canvas;color:CanvasText}
main{max-width:34rem;margin:0 auto;padding:2rem 1.5rem}
h1{font-size:1.75rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.3rem;margin:0 0 .75rem}
[hidden]{display:none!important}
.field{margin:0 0 1.25rem}
label{display:block;font-weight:600}
.hint{margin:.15rem 0 .35rem;font-size:.95rem;opacity:.85}
input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem .6rem;border:1px solid;border-radius:.35rem}
input[aria-invalid=true]{border:2px solid #c62828}
:focus-visible{outline:3px solid #1565c0;outline-offset:2px}
.error{color:#c62828;font-weight:600;margin:.35rem 0 0}
@media (prefers-color-scheme:dark){.error{color:#ff8a80}input[aria-invalid=true]{border-color:#ff8a80}}
button{font:inherit;padding:.55rem 1.2rem;border-radius:.35rem;border:1px solid;cursor:pointer}
button:disabled{opacity:.6;cursor:progress}
code{font-size:1rem;overflow-wrap:anywhere;padding:.1rem .3rem;border:1px solid;border-radius:.25rem}
.note{font-weight:600}
`.trim();

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}

/** Hashed once at module load: the page never runs a script or style it does not ship. */
export const SIGNUP_SCRIPT_HASH = sha256(SIGNUP_SCRIPT);
const STYLE_HASH = sha256(STYLE);

/** Only the page's own script and style; the script may talk to this origin and nothing else. */
export const SIGNUP_PAGE_CSP = [
  "default-src 'none'",
  `script-src '${SIGNUP_SCRIPT_HASH}'`,
  `style-src '${STYLE_HASH}'`,
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page for a deployment whose tenants live under `baseUrl`'s host; built once per handler. */
export function signupPageResponse(baseUrl: URL): HttpResponse {
  const example = escapeHtml(`acme.${baseUrl.hostname}`);
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Start a free trial</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Start a free trial</h1>
<p>You get your own copy of the application at its own address. It sleeps when nobody uses it and wakes up on the next visit.</p>
<noscript><p>This page needs JavaScript. You can also sign up with the API: <code>POST /tenants</code> with a JSON body <code>{"slug": "…", "email": "…"}</code>.</p></noscript>
<form id="signup" action="tenants" method="post">
<div class="field">
<label for="slug">Name</label>
<p class="hint" id="slug-hint">${SLUG_MIN_LENGTH} to ${SLUG_MAX_LENGTH} characters: lowercase letters, digits and single hyphens; starts with a letter and does not end with a hyphen. It becomes your address, as in <strong>${example}</strong>.</p>
<input id="slug" name="slug" type="text" required minlength="${SLUG_MIN_LENGTH}" maxlength="${SLUG_MAX_LENGTH}" pattern="${SLUG_PATTERN}" autocomplete="off" autocapitalize="none" spellcheck="false" aria-describedby="slug-hint slug-error">
<p class="error" id="slug-error" hidden></p>
</div>
<div class="field">
<label for="email">Email address</label>
<p class="hint" id="email-hint">One trial per address.</p>
<input id="email" name="email" type="email" required maxlength="254" autocomplete="email" spellcheck="false" aria-describedby="email-hint email-error">
<p class="error" id="email-error" hidden></p>
</div>
<p class="error" id="form-error" role="alert" hidden></p>
<button id="submit" type="submit">Start my trial</button>
</form>
<section id="result" hidden aria-labelledby="result-heading">
<h2 id="result-heading" tabindex="-1">Your trial is on its way</h2>
<p>Your token: <code id="token"></code></p>
<p class="note">Keep this token somewhere safe. It is shown only this once, and it is what lets you put your trial to sleep, wake it or delete it.</p>
<p id="progress" role="status" aria-live="polite"></p>
<p id="ready" hidden>Open your trial: <a id="tenant-link" href="#"></a></p>
</section>
</main>
<script>${SIGNUP_SCRIPT}</script>
</body>
</html>
`;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': SIGNUP_PAGE_CSP,
      // Revalidated on every visit, so a deploy that changes the script never meets a stale CSP.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body,
  };
}
