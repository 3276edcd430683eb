import { brandHeader, DEFAULT_BRAND, pageCsp, pageHeaders, pageStyle, supportFooter, type Brand } from './page-layout.js';
import type { HttpResponse } from './responses.js';

/**
 * `GET /manage`: the self-service page of a trial's owner. They see their trial (its state in
 * plain words, address, plan and end) and can wake it, put it to sleep, retry it when it
 * failed, or delete it. The trial's name comes in the fragment (`/manage#acme`), which no
 * server sees; so may the token (`#acme&token=…`), which the page then takes out of the address.
 * The token is otherwise asked for once and kept in sessionStorage: it never travels in a URL
 * and never lands in a server's log. Calls go to the same public API, relative to the page.
 */
export const MANAGE_SCRIPT = String.raw`'use strict';
var POLL_MS = 2000;
var STORAGE_PREFIX = 'dormouse-token:';

/** The name and token the fragment carries: "#acme" or "#acme&token=…". */
function fromFragment(hash) {
  var parts = hash.replace(/^#/, '').split('&');
  var found = { id: '', token: '' };
  parts.forEach(function (part) {
    if (part.indexOf('token=') === 0) found.token = decodeURIComponent(part.slice(6));
    else if (part && !found.id) found.id = decodeURIComponent(part);
  });
  return found;
}

function isGone(tenant) {
  return tenant.desired === 'deleted' || tenant.phase === 'Deleting' || tenant.phase === 'Deleted';
}

/** The trial's state in plain words: never a phase name. */
function stateText(tenant) {
  if (tenant.phase === 'Deleted') return 'It has been deleted.';
  if (isGone(tenant)) return 'Deleting it…';
  switch (tenant.phase) {
    case 'PendingVerification': return 'Waiting for you to confirm your email address: open the link we sent you.';
    case 'Pending': return 'Getting ready to start…';
    case 'Queued': return 'Waiting for a free place to start…';
    case 'Provisioning': return 'Starting…';
    case 'Waking': return 'Waking up…';
    case 'Running': return tenant.desired === 'passivated' ? 'Going to sleep…' : 'Running.';
    case 'Passivating': return 'Going to sleep…';
    case 'Passivated': return tenant.desired === 'running' ? 'Waking up…' : 'Asleep. Visiting its address wakes it up.';
    case 'Failed': return 'It could not be started. ' + (tenant.reason || '');
    default: return 'Working on it…';
  }
}

/** Nothing more will happen by itself: the page stops asking. */
function isSettled(tenant) {
  if (tenant.phase === 'Deleted' || tenant.phase === 'Failed') return true;
  if (tenant.phase === 'Running') return tenant.desired === 'running';
  if (tenant.phase === 'Passivated') return tenant.desired === 'passivated';
  return tenant.phase === 'PendingVerification';
}

/** Which actions make sense now. */
function actionsFor(tenant) {
  var gone = isGone(tenant);
  var failed = tenant.phase === 'Failed';
  return {
    wake: !gone && !failed && tenant.desired !== 'running',
    sleep: !gone && !failed && tenant.desired === 'running' && tenant.phase !== 'PendingVerification',
    retry: !gone && failed,
    delete: !gone,
  };
}

function managePage(doc, http, later, storage, history, location) {
  var byId = function (id) { return doc.getElementById(id); };
  var signin = byId('signin');
  var trial = byId('trial');
  var current = { id: '', token: '' };
  var polling = false;

  function say(element, text) {
    element.textContent = '';
    // A fresh text node, so screen readers announce a repeated message too.
    later(function () { element.textContent = text; }, 50);
  }
  function remember(id, token) {
    try { if (storage) storage.setItem(STORAGE_PREFIX + id, token); } catch (e) { /* private mode: asked again next time */ }
  }
  function recalled(id) {
    try { return storage ? storage.getItem(STORAGE_PREFIX + id) || '' : ''; } catch (e) { return ''; }
  }
  function forget(id) {
    try { if (storage) storage.removeItem(STORAGE_PREFIX + id); } catch (e) { /* nothing kept */ }
  }
  function call(path, init) {
    return http(path, init).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    });
  }
  function tenantPath(suffix) {
    return 'tenants/' + encodeURIComponent(current.id) + (suffix || '');
  }
  function authorized(method) {
    return { method: method, headers: { authorization: 'Bearer ' + current.token, accept: 'application/json' }, cache: 'no-store' };
  }
  function signinError(text) {
    var error = byId('signin-error');
    error.hidden = !text;
    error.textContent = text;
  }
  function showSignin(id, text) {
    trial.hidden = true;
    signin.hidden = false;
    byId('tenant-id').value = id || '';
    byId('token').value = '';
    signinError(text || '');
    (id ? byId('token') : byId('tenant-id')).focus();
  }

  function show(tenant) {
    var address = byId('address');
    address.href = tenant.url;
    address.textContent = tenant.url;
    byId('plan').textContent = tenant.plan;
    byId('ends').textContent = tenant.trialEndsAt ? new Date(tenant.trialEndsAt).toLocaleString(undefined, { dateStyle: 'long', timeStyle: 'short' }) : 'No end date';
    var text = stateText(tenant);
    if (byId('state').textContent !== text) byId('state').textContent = text;
    byId('spinner').hidden = isSettled(tenant);
    var can = actionsFor(tenant);
    Object.keys(can).forEach(function (name) { byId(name).hidden = !can[name]; });
    if (!can.delete) byId('confirm-delete').hidden = true;
  }

  /** The state as anyone may read it: a failure is told in its plain sentence, not its details. */
  function refresh() {
    return call(tenantPath(''), { headers: { accept: 'application/json' }, cache: 'no-store' }).then(function (answer) {
      if (answer.status === 404) return showSignin('', 'There is no trial named "' + current.id + '".');
      if (answer.status !== 200) throw new Error('status ' + answer.status);
      show(answer.data);
      if (!isSettled(answer.data)) keepPolling();
      return answer.data;
    });
  }
  function keepPolling() {
    if (polling) return;
    polling = true;
    later(function () {
      polling = false;
      refresh().catch(function () { keepPolling(); });
    }, POLL_MS);
  }

  /** The token is checked by a call only its holder may make, before anything is shown. */
  function open(id, token) {
    current = { id: id, token: token };
    return call(tenantPath('/usage'), authorized('GET')).then(function (answer) {
      if (answer.status === 401 || answer.status === 403) {
        forget(id);
        return showSignin(id, 'That token does not belong to this trial. Check it and try again.');
      }
      if (answer.status === 404) return showSignin('', 'There is no trial named "' + id + '".');
      if (answer.status !== 200) return showSignin(id, 'Something went wrong on our side. Please try again in a moment.');
      remember(id, token);
      signin.hidden = true;
      trial.hidden = false;
      byId('trial-heading').textContent = id;
      return refresh().then(function () { byId('trial-heading').focus(); });
    }, function () { showSignin(id, 'The service could not be reached. Check your connection and try again.'); });
  }

  function act(button, suffix, method, done) {
    var status = byId('action-status');
    button.disabled = true;
    call(tenantPath(suffix), authorized(method)).then(function (answer) {
      button.disabled = false;
      if (answer.status === 401 || answer.status === 403) {
        forget(current.id);
        return showSignin(current.id, 'Your token is no longer accepted. Enter it again.');
      }
      if (answer.status >= 400) {
        say(status, (answer.data && answer.data.error && answer.data.error.message) || 'That did not work. Please try again.');
        return undefined;
      }
      say(status, done);
      show(answer.data);
      keepPolling();
      return undefined;
    }, function () {
      button.disabled = false;
      say(status, 'The service could not be reached. Check your connection and try again.');
    });
  }

  signin.addEventListener('submit', function (event) {
    event.preventDefault();
    var id = byId('tenant-id').value.trim().toLowerCase();
    var token = byId('token').value.trim();
    if (!id || !token) return signinError('Enter the name of your trial and its token.');
    history.replaceState(null, '', '#' + encodeURIComponent(id));
    open(id, token);
  });
  byId('wake').addEventListener('click', function () { act(byId('wake'), '/wake', 'POST', 'Waking it up.'); });
  byId('sleep').addEventListener('click', function () { act(byId('sleep'), '/passivate', 'POST', 'Putting it to sleep.'); });
  byId('retry').addEventListener('click', function () { act(byId('retry'), '/retry', 'POST', 'Starting it again.'); });
  byId('delete').addEventListener('click', function () {
    byId('confirm-delete').hidden = false;
    byId('delete-no').focus();
  });
  byId('delete-no').addEventListener('click', function () {
    byId('confirm-delete').hidden = true;
    byId('delete').focus();
  });
  byId('delete-yes').addEventListener('click', function () {
    byId('confirm-delete').hidden = true;
    act(byId('delete-yes'), '', 'DELETE', 'Deleting it.');
  });
  byId('signout').addEventListener('click', function () {
    forget(current.id);
    showSignin(current.id, '');
  });

  var given = fromFragment(location.hash);
  // A token in the fragment is kept for the tab and taken out of the address at once.
  if (given.token) history.replaceState(null, '', '#' + encodeURIComponent(given.id));
  var token = given.token || (given.id ? recalled(given.id) : '');
  if (given.id && token) open(given.id, token);
  else showSignin(given.id, '');
}

/** The tab's storage; reading it throws where the browser keeps none (storage turned off). */
function tabStorage() {
  try { return window.sessionStorage; } catch (e) { return null; }
}

if (typeof document !== 'undefined') {
  managePage(document, fetch.bind(window), setTimeout.bind(window), tabStorage(), window.history, window.location);
}
`;

/** The page's own rules, on top of the shared layout. */
const MANAGE_STYLE = `
.field{margin:0 0 1.25rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0 0 1.25rem}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:0 0 1rem}
button.danger{color:var(--danger);border-color:var(--danger)}
#confirm-delete{border:2px solid var(--danger);border-radius:.6rem;padding:1rem;margin:0 0 1rem}
#confirm-delete button{margin-right:.5rem}
button.link{border:0;background:none;padding:0;text-decoration:underline;color:var(--muted)}
h2:focus{outline:none}
`.trim();

export function managePageSources(brand: Brand) {
  const style = pageStyle(brand, MANAGE_STYLE);
  return { style, csp: pageCsp({ style, script: MANAGE_SCRIPT, brand }) };
}

/** The page for a brand; built once per handler. */
export function managePageResponse(brand: Brand = DEFAULT_BRAND): HttpResponse {
  const { style, csp } = managePageSources(brand);
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your trial</title>
<style>${style}</style>
</head>
<body>
${brandHeader(brand)}<main>
<h1>Your trial</h1>
<noscript><p>This page needs JavaScript. You can also use the API with your token: <code>POST /tenants/{name}/wake</code>, <code>/passivate</code>, <code>/retry</code>, or <code>DELETE /tenants/{name}</code>.</p></noscript>
<form id="signin" hidden>
<p class="muted">Enter your trial's name and the token you were given when you signed up. This tab keeps the token until you close it.</p>
<div class="field">
<label for="tenant-id">Name of your trial</label>
<input id="tenant-id" type="text" required autocomplete="off" autocapitalize="none" spellcheck="false">
</div>
<div class="field">
<label for="token">Token</label>
<input id="token" type="password" required autocomplete="off" spellcheck="false" aria-describedby="signin-error">
</div>
<p class="error" id="signin-error" role="alert" hidden></p>
<button class="primary" type="submit">Show my trial</button>
</form>
<section id="trial" hidden aria-labelledby="trial-heading">
<h2 id="trial-heading" tabindex="-1"></h2>
<p><span class="spinner" id="spinner" aria-hidden="true" hidden></span><span id="state" role="status" aria-live="polite"></span></p>
<dl>
<dt>Address</dt><dd><a id="address" href="#"></a></dd>
<dt>Plan</dt><dd id="plan"></dd>
<dt>Trial ends</dt><dd id="ends"></dd>
</dl>
<div class="actions">
<button id="wake" class="primary" type="button" hidden>Wake it up</button>
<button id="retry" class="primary" type="button" hidden>Try starting it again</button>
<button id="sleep" type="button" hidden>Put it to sleep</button>
<button id="delete" class="danger" type="button" hidden>Delete…</button>
</div>
<div id="confirm-delete" role="group" aria-labelledby="confirm-text" hidden>
<p id="confirm-text">Delete this trial and all its data? This cannot be undone.</p>
<button id="delete-yes" class="danger" type="button">Yes, delete it</button><button id="delete-no" type="button">Cancel</button>
</div>
<p id="action-status" role="status" aria-live="polite"></p>
<p><button id="signout" class="link" type="button">Use another trial or token</button></p>
</section>
</main>
${supportFooter(brand)}<script>${MANAGE_SCRIPT}</script>
</body>
</html>
`;
  return { statusCode: 200, headers: pageHeaders(csp), body };
}
