import { PHASES } from '../domain/tenant.js';
import type { HttpResponse } from './responses.js';
import { brandHeader, DEFAULT_BRAND, escapeHtml, pageCsp, pageHeaders, pageStyle, supportFooter, type Brand } from './page-layout.js';

/**
 * The operator console: one self-contained page (no framework, no external assets) with the
 * tenants table, its filters and actions, and a page per tenant with its timeline and logs. It
 * calls the admin API with URLs relative to itself, so the same page works in embedded mode
 * (at `/console` of the local API, with the admin token) and behind the console server, which
 * signs its calls with the operator's own AWS credentials.
 */

/** How the page's API calls are authorised: with the admin token it asks for, or by whoever serves it. */
export type ConsoleAuth = 'token' | 'proxy';

/** Pure helpers first, so tests can run them without a browser; then `consolePage`, which wires them to the document. */
export const CONSOLE_SCRIPT = String.raw`'use strict';
var TOKEN_KEY = 'dormouse-admin-token';
var REFRESH_MS = 1000;

/** '3 min ago' for an ISO time, from now (ms). */
function ago(iso, now) {
  if (!iso) return '—';
  var seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return seconds + ' s ago';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
  return Math.floor(seconds / 86400) + ' d ago';
}

function money(cost) {
  if (!cost || typeof cost.amount !== 'number') return '—';
  return cost.amount.toFixed(2) + ' ' + (cost.currency || '');
}

/** The tenants the filters let through: phase and plan exactly, text anywhere in the id or email. */
function filterTenants(tenants, filters) {
  var text = (filters.text || '').trim().toLowerCase();
  return tenants.filter(function (tenant) {
    if (filters.phase && tenant.phase !== filters.phase) return false;
    if (filters.plan && tenant.plan !== filters.plan) return false;
    if (text && (tenant.id + ' ' + (tenant.email || '')).toLowerCase().indexOf(text) === -1) return false;
    return true;
  });
}

/** The actions that make sense for a tenant now, in the order the row shows them. */
function actionsFor(tenant) {
  if (tenant.desired === 'deleted') return [];
  var actions = [];
  if (tenant.desired === 'passivated' || tenant.phase === 'Failed') actions.push('wake');
  if (tenant.desired === 'running' && tenant.phase !== 'Failed') actions.push('passivate');
  actions.push('plan', 'extend', 'delete');
  return actions;
}

var ACTION_LABELS = { wake: 'Wake', passivate: 'Sleep', plan: 'Change plan', extend: 'Extend', delete: 'Delete' };

/** What the confirmation asks, in plain words. */
function confirmText(action, id) {
  switch (action) {
    case 'wake': return 'Wake ' + id + '? It starts within a minute.';
    case 'passivate': return 'Put ' + id + ' to sleep? Its task stops; its data and address stay.';
    case 'delete': return 'Delete ' + id + '? Its task and its data are removed. This cannot be undone.';
    case 'plan': return 'Move ' + id + ' to another plan:';
    case 'extend': return 'Extend the trial of ' + id + ' by:';
    default: return action + ' ' + id + '?';
  }
}

/** The API request an action makes: a path relative to the page, a method, a JSON body or none. */
function actionRequest(action, tenant, input, now) {
  var path = 'tenants/' + encodeURIComponent(tenant.id);
  switch (action) {
    case 'wake': return { method: 'POST', path: path + '/wake' };
    case 'passivate': return { method: 'POST', path: path + '/passivate' };
    case 'delete': return { method: 'DELETE', path: path };
    case 'plan': return { method: 'PATCH', path: path, body: { plan: input } };
    case 'extend': {
      // From the trial's end, or from now when it has none or it is already over.
      var from = Math.max(now, tenant.trialEndsAt ? Date.parse(tenant.trialEndsAt) : 0);
      return { method: 'PATCH', path: path, body: { trialEndsAt: new Date(from + Number(input) * 86400000).toISOString() } };
    }
  }
  return null;
}

/** The tenant id in a location hash such as '#/tenants/acme', or ''. */
function routeOf(hash) {
  var match = /^#\/tenants\/([^/]+)$/.exec(hash || '');
  if (!match) return '';
  try { return decodeURIComponent(match[1]); } catch (error) { return ''; }
}

function consolePage(win) {
  var doc = win.document;
  var auth = doc.body.getAttribute('data-auth');
  var byId = function (id) { return doc.getElementById(id); };
  var state = { tenants: [], shown: '', plans: [], pending: null, timer: null, openId: '' };

  function token() {
    try { return win.sessionStorage.getItem(TOKEN_KEY) || ''; } catch (error) { return ''; }
  }

  function say(text) {
    var status = byId('status');
    if (status.textContent !== text) status.textContent = text;
  }

  function call(method, path, body) {
    var headers = { accept: 'application/json' };
    if (auth === 'token') headers.authorization = 'Bearer ' + token();
    if (body) headers['content-type'] = 'application/json';
    return win.fetch(path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    });
  }

  function errorText(answer) {
    return (answer.data && answer.data.error && answer.data.error.message) || 'The API answered ' + answer.status + '.';
  }

  /** Asks for the token again: the one kept was refused, or there is none yet. */
  function askToken(message) {
    try { win.sessionStorage.removeItem(TOKEN_KEY); } catch (error) { /* private mode: nothing kept */ }
    stop();
    byId('app').hidden = true;
    byId('login').hidden = false;
    var error = byId('login-error');
    error.textContent = message || '';
    error.hidden = !message;
    byId('admin-token').focus();
  }

  function refused(answer) {
    if (answer.status !== 401 && answer.status !== 403) return false;
    if (auth === 'token') askToken('That admin token was refused. Check it and try again.');
    else say('The API refused the request: ' + errorText(answer));
    return true;
  }

  /** Every page of GET /tenants, so the filters see every tenant. */
  function listAll(cursor, into) {
    var path = 'tenants?limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    return call('GET', path).then(function (answer) {
      if (answer.status !== 200) return answer;
      var all = into.concat(answer.data.items || []);
      return answer.data.cursor ? listAll(answer.data.cursor, all) : { status: 200, items: all };
    });
  }

  function cell(row, text) {
    var td = doc.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function fillSelect(select, values, firstLabel) {
    var keep = select.value;
    var wanted = [''].concat(values).join('\n');
    if (select.getAttribute('data-values') === wanted) return;
    select.textContent = '';
    [''].concat(values).forEach(function (value) {
      var option = doc.createElement('option');
      option.value = value;
      option.textContent = value || firstLabel;
      select.appendChild(option);
    });
    select.setAttribute('data-values', wanted);
    select.value = values.indexOf(keep) === -1 ? '' : keep;
  }

  function render() {
    var filters = { phase: byId('filter-phase').value, plan: byId('filter-plan').value, text: byId('filter-text').value };
    var now = Date.now();
    var shown = filterTenants(state.tenants, filters);
    // Redrawn only when something a person can see changed, so focus and selection stay put.
    var key = JSON.stringify([shown, filters, Math.floor(now / 10000)]);
    if (key === state.shown) return;
    state.shown = key;
    var body = byId('tenant-rows');
    body.textContent = '';
    shown.forEach(function (tenant) {
      var row = doc.createElement('tr');
      row.setAttribute('data-tenant', tenant.id);
      var name = doc.createElement('th');
      name.scope = 'row';
      var link = doc.createElement('a');
      link.href = '#/tenants/' + encodeURIComponent(tenant.id);
      link.textContent = tenant.id;
      name.appendChild(link);
      row.appendChild(name);
      cell(row, tenant.phase).className = 'phase';
      cell(row, tenant.plan || '—');
      cell(row, tenant.shard === undefined ? '0' : String(tenant.shard));
      cell(row, ago(tenant.lastActiveAt, now));
      cell(row, money(tenant.costToDate));
      var actions = cell(row, '');
      actionsFor(tenant).forEach(function (action) {
        var button = doc.createElement('button');
        button.type = 'button';
        button.textContent = ACTION_LABELS[action];
        button.setAttribute('data-action', action);
        button.setAttribute('aria-label', ACTION_LABELS[action] + ' ' + tenant.id);
        actions.appendChild(button);
      });
      body.appendChild(row);
    });
    byId('empty').hidden = shown.length > 0;
    byId('count').textContent = shown.length + ' of ' + state.tenants.length + ' tenants';
  }

  function refresh() {
    return listAll('', []).then(
      function (answer) {
        if (refused(answer)) return;
        if (answer.status !== 200) return say('Could not list the tenants: ' + errorText(answer));
        state.tenants = answer.items;
        var plans = {};
        state.tenants.forEach(function (tenant) { if (tenant.plan) plans[tenant.plan] = true; });
        state.plans.forEach(function (plan) { plans[plan] = true; });
        fillSelect(byId('filter-plan'), Object.keys(plans).sort(), 'All plans');
        render();
        if (state.openId) showTenant(state.openId);
      },
      function () { say('Could not reach the API. Retrying…'); }
    );
  }

  function loop() {
    refresh().then(function () {
      if (state.timer !== null) state.timer = win.setTimeout(loop, REFRESH_MS);
    });
  }

  function start() {
    byId('login').hidden = true;
    byId('app').hidden = false;
    call('GET', 'plans').then(function (answer) {
      if (answer.status === 200 && answer.data && answer.data.plans) state.plans = answer.data.plans.map(function (plan) { return plan.name; });
    }, function () {});
    state.timer = 0;
    loop();
    route();
  }

  function stop() {
    if (state.timer) win.clearTimeout(state.timer);
    state.timer = null;
  }

  function tenantById(id) {
    for (var i = 0; i < state.tenants.length; i++) if (state.tenants[i].id === id) return state.tenants[i];
    return null;
  }

  function openDialog(action, tenant) {
    state.pending = { action: action, tenant: tenant };
    byId('confirm-text').textContent = confirmText(action, tenant.id);
    byId('plan-field').hidden = action !== 'plan';
    byId('days-field').hidden = action !== 'extend';
    if (action === 'plan') {
      var plans = {};
      state.plans.concat(state.tenants.map(function (t) { return t.plan; })).forEach(function (plan) { if (plan && plan !== tenant.plan) plans[plan] = true; });
      fillSelect(byId('confirm-plan'), Object.keys(plans).sort(), 'Choose a plan');
    }
    var ok = byId('confirm-ok');
    ok.textContent = ACTION_LABELS[action];
    ok.className = action === 'delete' ? 'primary danger' : 'primary';
    byId('confirm').showModal();
  }

  function act() {
    var pending = state.pending;
    state.pending = null;
    if (!pending) return;
    var input = pending.action === 'plan' ? byId('confirm-plan').value : byId('confirm-days').value;
    if (pending.action === 'plan' && !input) return say('No plan was chosen; nothing changed.');
    var request = actionRequest(pending.action, pending.tenant, input, Date.now());
    say(ACTION_LABELS[pending.action] + ' ' + pending.tenant.id + '…');
    call(request.method, request.path, request.body).then(
      function (answer) {
        if (refused(answer)) return;
        if (answer.status >= 300) return say(ACTION_LABELS[pending.action] + ' ' + pending.tenant.id + ' failed: ' + errorText(answer));
        say(ACTION_LABELS[pending.action] + ' ' + pending.tenant.id + ': done.');
        refresh();
      },
      function () { say('Could not reach the API; nothing was changed.'); }
    );
  }

  function list(items, into, line) {
    into.textContent = '';
    items.forEach(function (item) {
      var li = doc.createElement('li');
      li.textContent = line(item);
      into.appendChild(li);
    });
  }

  /** The tenant page: its record, then its timeline and its newest log lines, when the API has them. */
  function showTenant(id) {
    var tenant = tenantById(id);
    byId('tenant-title').textContent = id;
    byId('tenant-summary').textContent = tenant
      ? tenant.phase + ' · plan ' + (tenant.plan || '—') + ' · shard ' + (tenant.shard || 0) + ' · ' + tenant.url +
        (tenant.trialEndsAt ? ' · trial ends ' + tenant.trialEndsAt.slice(0, 10) : '') + (tenant.reason ? ' · ' + tenant.reason : '')
      : 'No such tenant (or not listed yet).';
    var path = 'tenants/' + encodeURIComponent(id);
    call('GET', path + '/events').then(function (answer) {
      if (state.openId !== id) return;
      if (answer.status !== 200) return list([], byId('events'), String);
      list(answer.data.events || [], byId('events'), function (event) {
        return event.at + '  ' + event.phase + (event.reason ? ' — ' + event.reason : '') + (event.capacity ? ' (' + event.capacity + ')' : '');
      });
    }, function () {});
    // The last quarter of an hour: the page is for what a tenant is doing now.
    var since = new Date(Date.now() - 15 * 60000).toISOString();
    call('GET', path + '/logs?limit=200&since=' + encodeURIComponent(since)).then(function (answer) {
      if (state.openId !== id) return;
      var lines = answer.status === 200 ? answer.data.lines || [] : [];
      list(lines, byId('logs'), function (line) { return line.at + '  ' + line.message; });
      byId('no-logs').hidden = lines.length > 0;
    }, function () {});
  }

  function route() {
    state.openId = routeOf(win.location.hash);
    byId('tenants-view').hidden = Boolean(state.openId);
    byId('tenant-view').hidden = !state.openId;
    if (state.openId) {
      showTenant(state.openId);
      byId('tenant-title').focus();
    }
  }

  byId('login').addEventListener('submit', function (event) {
    event.preventDefault();
    var value = byId('admin-token').value.trim();
    if (!value) return;
    try { win.sessionStorage.setItem(TOKEN_KEY, value); } catch (error) { /* kept for this page only */ }
    byId('admin-token').value = '';
    start();
  });
  byId('tenant-rows').addEventListener('click', function (event) {
    var button = event.target.closest('button[data-action]');
    if (!button) return;
    var tenant = tenantById(button.closest('tr').getAttribute('data-tenant'));
    if (tenant) openDialog(button.getAttribute('data-action'), tenant);
  });
  byId('tenant-actions').addEventListener('click', function (event) {
    var button = event.target.closest('button[data-action]');
    var tenant = tenantById(state.openId);
    if (button && tenant) openDialog(button.getAttribute('data-action'), tenant);
  });
  byId('confirm').addEventListener('close', function () {
    if (byId('confirm').returnValue === 'ok') act();
    state.pending = null;
  });
  ['filter-phase', 'filter-plan', 'filter-text'].forEach(function (id) {
    byId(id).addEventListener('input', render);
  });
  win.addEventListener('hashchange', route);

  if (auth === 'token' && !token()) askToken('');
  else start();
}

if (typeof document !== 'undefined') consolePage(window);
`;

const CONSOLE_STYLE = `
.bar{display:flex;flex-wrap:wrap;gap:1rem;align-items:end;margin:0 0 1rem}
.bar .field{flex:1 1 12rem}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:.5rem .4rem;border-bottom:1px solid var(--line);vertical-align:middle}
thead th{color:var(--muted);font-weight:600}
td button{margin:0 .25rem .25rem 0;padding:.3rem .6rem;font-size:.9rem}
button.danger{background:var(--danger);border-color:var(--danger);color:#fff}
@media (prefers-color-scheme:dark){button.danger{color:#000}}
dialog{border:1px solid var(--line);border-radius:.75rem;background:var(--card);color:var(--text);max-width:28rem}
dialog::backdrop{background:rgb(0 0 0 / .4)}
dialog menu{display:flex;gap:.5rem;justify-content:flex-end;padding:0;margin:1rem 0 0}
.log{font-family:ui-monospace,monospace;font-size:.85rem;list-style:none;padding:.5rem;margin:0 0 1rem;border:1px solid var(--line);border-radius:.45rem;max-height:24rem;overflow:auto;white-space:pre-wrap}
#tenant-actions{margin:0 0 1rem}
#tenant-actions button{margin-right:.4rem}
`.trim();

export function consolePageSources(brand: Brand) {
  const style = pageStyle(brand, CONSOLE_STYLE);
  return { style, csp: pageCsp({ style, script: CONSOLE_SCRIPT, brand }) };
}

/** The console page; `auth` says whether it asks for the admin token or its server signs for it. */
export function consolePageResponse(auth: ConsoleAuth, brand: Brand = DEFAULT_BRAND): HttpResponse {
  const { style, csp } = consolePageSources(brand);
  const title = brand.name ? `${escapeHtml(brand.name)} console` : 'Dormouse console';
  const phases = PHASES.map((phase) => `<option value="${phase}">${phase}</option>`).join('');
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${style}</style>
</head>
<body class="wide" data-auth="${auth}">
${brandHeader(brand)}<main>
<h1>${title}</h1>
<form id="login" hidden>
<div class="field">
<label for="admin-token">Admin token</label>
<p class="hint" id="admin-token-hint">The value of <code>DORMOUSE_ADMIN_TOKEN</code>, printed by <code>npm start</code>. It is kept in this tab until you close it.</p>
<input id="admin-token" type="password" autocomplete="off" required aria-describedby="admin-token-hint login-error">
<p class="error" id="login-error" role="alert" hidden></p>
</div>
<button class="primary" type="submit">Open the console</button>
</form>
<div id="app" hidden>
<p id="status" role="status" aria-live="polite"></p>
<section id="tenants-view" aria-labelledby="tenants-heading">
<h2 id="tenants-heading">Tenants</h2>
<div class="bar" role="search">
<div class="field"><label for="filter-text">Name or email</label><input id="filter-text" type="search" autocomplete="off"></div>
<div class="field"><label for="filter-phase">Phase</label><select id="filter-phase"><option value="">All phases</option>${phases}</select></div>
<div class="field"><label for="filter-plan">Plan</label><select id="filter-plan"><option value="">All plans</option></select></div>
</div>
<p class="muted" id="count"></p>
<table>
<thead><tr><th scope="col">Tenant</th><th scope="col">Phase</th><th scope="col">Plan</th><th scope="col">Shard</th><th scope="col">Last active</th><th scope="col">Cost to date</th><th scope="col">Actions</th></tr></thead>
<tbody id="tenant-rows"></tbody>
</table>
<p id="empty" class="muted">No tenants match.</p>
</section>
<section id="tenant-view" hidden aria-labelledby="tenant-title">
<p><a href="#">← All tenants</a></p>
<h2 id="tenant-title" tabindex="-1"></h2>
<p id="tenant-summary"></p>
<div id="tenant-actions"><button type="button" data-action="wake">Wake</button><button type="button" data-action="passivate">Sleep</button><button type="button" data-action="plan">Change plan</button><button type="button" data-action="extend">Extend</button><button type="button" data-action="delete">Delete</button></div>
<h3>Timeline</h3>
<ol class="log" id="events"></ol>
<h3>Recent logs</h3>
<p id="no-logs" class="muted">No log lines.</p>
<ul class="log" id="logs"></ul>
</section>
</div>
</main>
<dialog id="confirm" aria-labelledby="confirm-text">
<form method="dialog">
<p id="confirm-text"></p>
<div class="field" id="plan-field" hidden><label for="confirm-plan">Plan</label><select id="confirm-plan"></select></div>
<div class="field" id="days-field" hidden><label for="confirm-days">Days</label><input id="confirm-days" type="number" min="1" max="365" value="7"></div>
<menu><button value="cancel" formnovalidate>Cancel</button><button id="confirm-ok" value="ok" class="primary">OK</button></menu>
</form>
</dialog>
${supportFooter(brand)}<script>${CONSOLE_SCRIPT}</script>
</body>
</html>
`;
  return { statusCode: 200, headers: pageHeaders(csp), body };
}
