import { createHash } from 'node:crypto';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Embedded } from '../../shared/adapters/local/embedded.js';
import { TEST_ADMIN_TOKEN, startTestApi } from '../support/api-server.js';

const ADMIN = TEST_ADMIN_TOKEN;

let embedded: Embedded;
let store: Embedded['store'];
let page: { status: number; headers: Headers; html: string };

beforeAll(async () => {
  const started = await startTestApi();
  embedded = started.embedded;
  const { tables } = started;
  store = embedded.store;
  const response = await fetch(`${embedded.apiUrl}/`);
  page = { status: response.status, headers: response.headers, html: await response.text() };
});
afterAll(async () => {
  await embedded?.stop();
});

const between = (html: string, tag: 'script' | 'style') => {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(html);
  if (!match) throw new Error(`no <${tag}> in the page`);
  return match[1]!;
};
const sha256 = (text: string) => `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;

function cspDirectives(header: string | null): Record<string, string[]> {
  return Object.fromEntries(
    (header ?? '').split(';').map((directive) => {
      const [name = '', ...values] = directive.trim().split(/\s+/);
      return [name, values];
    }),
  );
}

describe('GET /', () => {
  it('serves the signup page as HTML that no cache keeps stale', () => {
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('allows only its own inline script and style, by hash, and talks to its own origin only', () => {
    const csp = cspDirectives(page.headers.get('content-security-policy'));

    expect(csp['default-src']).toEqual(["'none'"]);
    expect(csp['script-src']).toEqual([`'${sha256(between(page.html, 'script'))}'`]);
    expect(csp['style-src']).toEqual([`'${sha256(between(page.html, 'style'))}'`]);
    expect(csp['connect-src']).toEqual(["'self'"]);
    expect(csp['frame-ancestors']).toEqual(["'none'"]);
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe');
  });

  it('is one self-contained document: no external scripts, styles, fonts or images', () => {
    expect(page.html.match(/<script/g)).toHaveLength(1);
    expect(page.html).not.toMatch(/\ssrc=|<link|<img|@import|url\(/);
    // The only address on it is the example of a tenant's own.
    expect([...page.html.matchAll(/https?:\/\/[^\s<"]+/g)].map(([url]) => url)).toEqual(['http://acme.localhost:8080']);
  });

  it('is a form a screen reader can follow: labelled fields, hints, error slots and a live progress region', () => {
    const { html } = page;

    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/<main>\n<h1>Start a free trial<\/h1>/);
    expect(html).not.toContain('class="brand"');
    expect(html).toContain('<label for="slug">Name</label>');
    expect(html).toContain('<label for="email">Email address</label>');
    expect(html).toMatch(
      /<input id="slug" [^>]*required minlength="3" maxlength="40" pattern="[^"]+"[^>]*aria-describedby="slug-hint slug-error">/,
    );
    expect(html).toMatch(
      /<input id="email" name="email" type="email" required [^>]*autocomplete="email"[^>]*aria-describedby="email-hint email-error">/,
    );
    expect(html).toMatch(
      /<p class="hint" id="slug-hint">3 to 40 characters: lowercase letters, digits and single hyphens; starts with a letter[^<]*<strong>http:\/\/acme\.localhost:8080<\/strong>/,
    );
    expect(html).toContain('<p class="error" id="form-error" role="alert" hidden></p>');
    expect(html).toContain('<button id="submit" class="primary" type="submit">Start my trial</button>');
    expect(html).toContain('<span id="progress" role="status" aria-live="polite"></span>');
  });
});

/**
 * Just enough of a document for the page's script: elements by id (taken from the served
 * HTML, so the script can only use ids the page has), text, attributes, events and focus.
 */
class FakeElement {
  textContent = '';
  value = '';
  href = '';
  disabled = false;
  readonly attributes = new Map<string, string>();
  private readonly listeners = new Map<string, Array<(event: unknown) => void>>();

  constructor(
    readonly id: string,
    public hidden: boolean,
    private readonly doc: FakeDocument,
  ) {}

  setAttribute(name: string, value: unknown) {
    this.attributes.set(name, String(value));
  }
  removeAttribute(name: string) {
    this.attributes.delete(name);
  }
  addEventListener(type: string, listener: (event: unknown) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string, event: unknown) {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
  focus() {
    this.doc.activeElement = this;
  }
}

class FakeDocument {
  activeElement: FakeElement | undefined;
  private readonly elements = new Map<string, FakeElement>();

  constructor(html: string) {
    for (const match of html.matchAll(/<[a-z0-9]+\s[^>]*?\bid="([^"]+)"[^>]*>/g)) {
      this.elements.set(match[1]!, new FakeElement(match[1]!, /\shidden[\s>]/.test(match[0]), this));
    }
  }
  getElementById(id: string) {
    return this.elements.get(id) ?? null;
  }
  el(id: string): FakeElement {
    const element = this.elements.get(id);
    if (!element) throw new Error(`no element #${id}`);
    return element;
  }
  submit(values: { slug: string; email: string }) {
    this.el('slug').value = values.slug;
    this.el('email').value = values.email;
    this.el('signup').dispatch('submit', { preventDefault: () => {} });
  }
}

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/**
 * Runs the page's own script (the exact text the CSP hash allows) against a fake document,
 * with `fetch` going over real HTTP to the embedded API and polls made 100 times faster.
 */
function openPage(wrap: (real: Fetch) => Fetch = (real) => real, clipboard?: { writeText(text: string): Promise<void> }) {
  const doc = new FakeDocument(page.html);
  const requests: Array<{ path: string; init?: RequestInit }> = [];
  const delays: number[] = [];
  const real: Fetch = (path, init) => {
    requests.push({ path, ...(init ? { init } : {}) });
    // Resolved against the page's URL, as a browser resolves the script's relative URLs.
    return fetch(new URL(path, `${embedded.apiUrl}/`), init);
  };
  const later = (callback: () => void, ms: number) => {
    delays.push(ms);
    setTimeout(callback, ms / 100);
  };
  const context = vm.createContext({});
  vm.runInContext(between(page.html, 'script'), context);
  (context as { signupPage: (...args: unknown[]) => void }).signupPage(doc, wrap(real), later, globalThis.crypto, clipboard);
  return { doc, requests, delays };
}

/** Waits for the page to get there; generous, because a loaded machine answers slowly. */
const until = (check: () => void) => vi.waitFor(check, { timeout: 15_000, interval: 20 });

let counter = 0;
const fresh = () => {
  counter += 1;
  return { slug: `page${counter}-x`, email: `page${counter}@example.test` };
};

describe('the signup page in use', () => {
  it('shows the API’s field errors next to the fields, marks them invalid and moves focus to the first', async () => {
    const { doc } = openPage();

    doc.submit({ slug: 'www', email: 'not-an-email' });

    await until(() => expect(doc.el('slug-error').hidden).toBe(false));
    expect(doc.el('slug-error').textContent).toBe('The name "www" is reserved; choose another name.');
    expect(doc.el('email-error').textContent).toBe('The email address must be an email address like ann@example.com.');
    expect(doc.el('slug').attributes.get('aria-invalid')).toBe('true');
    expect(doc.el('email').attributes.get('aria-invalid')).toBe('true');
    expect(doc.activeElement?.id).toBe('slug');
    expect(doc.el('form-error').hidden).toBe(true);
    expect(doc.el('submit').disabled).toBe(false);
  });

  it('says what is wrong above the form when no field is to blame', async () => {
    const taken = fresh();
    await fetch(`${embedded.apiUrl}/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(taken),
    });
    const { doc } = openPage();

    doc.submit({ slug: fresh().slug, email: taken.email });

    await until(() => expect(doc.el('form-error').hidden).toBe(false));
    expect(doc.el('form-error').textContent).toMatch(/already has a trial: one per address/);
    expect(doc.el('slug').attributes.has('aria-invalid')).toBe(false);
  });

  it('shows the token once, follows the tenant until it runs, then links to it and stops asking', async () => {
    const { slug, email } = fresh();
    const { doc, requests, delays } = openPage();

    doc.submit({ slug: 'www', email });
    await until(() => expect(doc.el('slug-error').hidden).toBe(false));
    doc.submit({ slug, email });

    await until(() => expect(doc.el('result').hidden).toBe(false));
    expect(doc.el('signup').hidden).toBe(true);
    expect(doc.el('slug-error').hidden).toBe(true);
    expect(doc.el('slug').attributes.has('aria-invalid')).toBe(false);
    expect(doc.el('token').textContent).toMatch(/^dmt_[A-Za-z0-9_-]{43}$/);
    expect(doc.activeElement?.id).toBe('result-heading');
    expect(doc.el('progress').textContent).toBe('Signed up. Waiting to start…');
    expect(doc.el('tenant-link').href).toBe(`http://${slug}.localhost:8080`);
    expect(doc.el('ready').hidden).toBe(true);
    expect(doc.el('spinner').hidden).toBe(false);
    const post = requests.find((request) => request.init?.method === 'POST');
    expect(post?.path).toBe('tenants');
    expect((post?.init?.headers as Record<string, string>)['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);

    await until(() => expect(requests.filter((request) => request.path === `tenants/${slug}`).length).toBeGreaterThanOrEqual(2));
    // Each wait half as long again as the one before, from 2 s.
    expect(delays.slice(0, 3)).toEqual([2000, 3000, 4500].slice(0, Math.min(3, delays.length)));
    expect(doc.el('ready').hidden).toBe(true);

    const tenant = (await store.get(slug))!;
    await store.save({ ...tenant, status: { ...tenant.status, phase: 'Running', transitionAt: new Date().toISOString() } });

    await until(() => expect(doc.el('ready').hidden).toBe(false));
    expect(doc.el('progress').textContent).toBe('Ready.');
    expect(doc.el('spinner').hidden).toBe(true);
    const polls = requests.length;
    // Five times the first (scaled) wait between polls, in which no poll may come.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(requests.length).toBe(polls);
  });

  it('copies the token with the copy button, and says how to copy it where the browser will not', async () => {
    const copied: string[] = [];
    const { doc } = openPage(undefined, { writeText: async (text) => void copied.push(text) });
    doc.submit(fresh());
    await until(() => expect(doc.el('result').hidden).toBe(false));

    doc.el('copy-token').dispatch('click', {});

    await until(() => expect(doc.el('copy-status').textContent).toBe('Copied.'));
    expect(copied).toEqual([doc.el('token').textContent]);

    const refused = openPage(undefined, { writeText: () => Promise.reject(new Error('NotAllowedError')) });
    refused.doc.submit(fresh());
    await until(() => expect(refused.doc.el('result').hidden).toBe(false));
    refused.doc.el('copy-token').dispatch('click', {});
    await until(() => expect(refused.doc.el('copy-status').textContent).toBe('Select the token and copy it by hand.'));
  });

  it('sends the same Idempotency-Key again after a lost answer, so the retry gets the first token back', async () => {
    const { slug, email } = fresh();
    let firstToken: string | undefined;
    const { doc } = openPage((real) => async (path, init) => {
      const response = await real(path, init);
      if (init?.method === 'POST' && firstToken === undefined) {
        firstToken = ((await response.json()) as { token: string }).token;
        throw new TypeError('Failed to fetch');
      }
      return response;
    });

    doc.submit({ slug, email });
    await until(() => expect(doc.el('form-error').textContent).toMatch(/Could not reach the server/));
    doc.submit({ slug, email });

    await until(() => expect(doc.el('result').hidden).toBe(false));
    expect(doc.el('form-error').hidden).toBe(true);
    expect(doc.el('token').textContent).toBe(firstToken);
  });
});
