import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { EmailMessage, EmailSender } from '../../ports/email.js';

/** Sends mail through Amazon SES (v2 API) from one verified sender identity. */
export class SesEmailSender implements EmailSender {
  private readonly from: string;
  private readonly client: SESv2Client;

  constructor({ from, client = new SESv2Client({}) }: { from: string; client?: SESv2Client }) {
    this.from = from;
    this.client = client;
  }

  async send({ to, subject, text }: EmailMessage): Promise<void> {
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.from,
        Destination: { ToAddresses: [to] },
        Content: {
          Simple: {
            Subject: { Data: subject, Charset: 'UTF-8' },
            Body: { Text: { Data: text, Charset: 'UTF-8' } },
          },
        },
      }),
    );
  }
}
