import { tenantUrl } from '../config.js';
import { SLUG_MAX_LENGTH, SLUG_MIN_LENGTH } from '../domain/slug.js';
import { brandHeader, DEFAULT_BRAND, escapeHtml, pageCsp, pageHeaders, pageStyle, supportFooter, type Brand } from './page-layout.js';
import type { HttpResponse } from './responses.js';

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

/** Copies the token, or says how to when the browser will not (no clipboard outside https or localhost). */
function copyText(clipboard, text) {
  if (!clipboard || typeof clipboard.writeText !== 'function') return Promise.reject(new Error('no clipboard'));
  return clipboard.writeText(text);
}

function signupPage(doc, http, later, crypto, clipboard, storage) {
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
        if (answer.status === 404) {
          byId('spinner').hidden = true;
          return say(progress, 'This trial no longer exists.');
        }
        if (answer.status !== 200) return again();
        say(progress, phaseText(answer.data));
        var end = outcome(answer.data);
        if (end) byId('spinner').hidden = true;
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
    // The trial's own page, in this tab, without asking for the token again: same origin, same tab.
    byId('manage-link').href = 'manage#' + encodeURIComponent(tenant.id);
    try { if (storage) storage.setItem('dormouse-token:' + tenant.id, tenant.token); } catch (e) { /* asked for there instead */ }
    byId('result').hidden = false;
    byId('result-heading').focus();
    say(progress, phaseText(tenant));
    poll(tenant, POLL_FIRST_MS);
  }

  byId('copy-token').addEventListener('click', function () {
    var status = byId('copy-status');
    copyText(clipboard, byId('token').textContent).then(
      function () { say(status, 'Copied.'); },
      function () { say(status, 'Select the token and copy it by hand.'); }
    );
  });

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

/** The tab's storage; reading it throws where the browser keeps none (storage turned off). */
function tabStorage() {
  try { return window.sessionStorage; } catch (e) { return null; }
}

if (typeof document !== 'undefined') {
  signupPage(document, fetch.bind(window), setTimeout.bind(window), window.crypto, navigator.clipboard, tabStorage());
}
`;

/** The signup card's own rules, on top of the shared layout. */
const SIGNUP_STYLE = `
.field{margin:0 0 1.25rem}
#submit{width:100%;padding:.7rem 1rem}
.token{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:0 0 .75rem}
.note{font-weight:600}
`.trim();

/** The page's stylesheet and CSP for a brand: both fixed once the brand is. */
export function signupPageSources(brand: Brand) {
  const style = pageStyle(brand, SIGNUP_STYLE);
  return { style, csp: pageCsp({ style, script: SIGNUP_SCRIPT, brand }) };
}

/** The page with no branding: what the tests of its policy read. */

/** The page for a deployment whose tenants live under `baseUrl`'s host; built once per handler. */
export function signupPageResponse(baseUrl: URL, brand: Brand = DEFAULT_BRAND): HttpResponse {
  const example = escapeHtml(tenantUrl(baseUrl, 'acme'));
  const { style, csp } = signupPageSources(brand);
  const title = brand.name ? `Start your free ${escapeHtml(brand.name)} trial` : 'Start a free trial';
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${style}</style>
</head>
<body>
${brandHeader(brand)}<main>
<h1>${title}</h1>
<p class="muted">You get your own copy of the application at its own address. It sleeps when nobody uses it and wakes up on your next visit.</p>
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
<button id="submit" class="primary" type="submit">Start my trial</button>
</form>
<section id="result" hidden aria-labelledby="result-heading">
<h2 id="result-heading" tabindex="-1">Your trial is on its way</h2>
<div class="token"><span>Your token:</span> <code id="token"></code> <button id="copy-token" type="button">Copy token</button></div>
<p id="copy-status" role="status" aria-live="polite"></p>
<p class="note">Keep this token somewhere safe. It is shown only this once, and it is what lets you put your trial to sleep, wake it or delete it.</p>
<p><span class="spinner" id="spinner" aria-hidden="true"></span><span id="progress" role="status" aria-live="polite"></span></p>
<p id="ready" hidden>Open your trial: <a id="tenant-link" href="#"></a></p>
<p class="muted">To wake it, put it to sleep or delete it later, use <a id="manage-link" href="manage">your trial's page</a> with your token.</p>
</section>
</main>
${supportFooter(brand)}<script>${SIGNUP_SCRIPT}</script>
</body>
</html>
`;
  return { statusCode: 200, headers: pageHeaders(csp), body };
}
