import type { EmailMessage, EmailSender } from '../../ports/email.js';
import { escapeHtml } from '../../http/wake-pages.js';
import { json, type HttpResponse } from '../../http/responses.js';

export interface SentMessage extends EmailMessage {
  sentAt: string;
}

/** Keeps the newest messages only: the outbox is for reading the last few links, not an archive. */
const MAX_MESSAGES = 100;

/**
 * Embedded mode's mail: every message is printed to the terminal and listed at `/outbox` of the
 * local API, so the verification link can be followed without a mail server. Never on AWS.
 */
export class LocalOutbox implements EmailSender {
  readonly messages: SentMessage[] = [];

  constructor(private readonly print: (line: string) => void = (line) => console.log(line)) {}

  async send(message: EmailMessage): Promise<void> {
    this.messages.push({ ...message, sentAt: new Date().toISOString() });
    if (this.messages.length > MAX_MESSAGES) this.messages.shift();
    this.print(`[mail] to ${message.to}: ${message.subject}\n${message.text.replace(/^/gm, '  ')}`);
  }

  /** The outbox page: JSON when asked for, otherwise a small HTML list, newest first. */
  response(acceptsJson: boolean): HttpResponse {
    const newestFirst = [...this.messages].reverse();
    if (acceptsJson) return json(200, { messages: newestFirst });
    const items = newestFirst
      .map(
        (m) =>
          `<li><p><strong>${escapeHtml(m.subject)}</strong> to ${escapeHtml(m.to)} <small>${escapeHtml(m.sentAt)}</small></p>` +
          `<pre>${linkify(escapeHtml(m.text))}</pre></li>`,
      )
      .join('\n');
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dormouse outbox</title></head>
<body><h1>Outbox</h1><p>Mail Dormouse sent while running locally, newest first.</p>
${newestFirst.length ? `<ol>${items}</ol>` : '<p>No mail yet.</p>'}</body></html>`;
    return {
      statusCode: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
      },
      body,
    };
  }
}

function linkify(escaped: string): string {
  return escaped.replace(/https?:\/\/[^\s<]+/g, (url) => `<a href="${url}">${url}</a>`);
}
