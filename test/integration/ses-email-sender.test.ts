import { beforeEach, describe, expect, it } from 'vitest';
import 'aws-sdk-client-mock-vitest/extend';
import { mockClient } from 'aws-sdk-client-mock';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { SesEmailSender } from '../../shared/adapters/aws/ses-email-sender.js';

const client = new SESv2Client({ region: 'eu-west-1' });
const ses = mockClient(client);

beforeEach(() => ses.reset());

describe('SesEmailSender', () => {
  it('sends one plain-text mail from the configured sender, and nothing else', async () => {
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
    const sender = new SesEmailSender({ from: 'Dormouse <trials@example.com>', client });

    await sender.send({
      to: 'ann@example.com',
      subject: 'Confirm your trial "acme"',
      text: 'Open https://api.example.com/verify?tenant=acme&code=abc',
    });

    expect(ses).toHaveReceivedCommandTimes(SendEmailCommand, 1);
    expect(ses.calls()).toHaveLength(1);
    expect(ses.commandCalls(SendEmailCommand)[0]!.args[0].input).toEqual({
      FromEmailAddress: 'Dormouse <trials@example.com>',
      Destination: { ToAddresses: ['ann@example.com'] },
      Content: {
        Simple: {
          Subject: { Data: 'Confirm your trial "acme"', Charset: 'UTF-8' },
          Body: { Text: { Data: 'Open https://api.example.com/verify?tenant=acme&code=abc', Charset: 'UTF-8' } },
        },
      },
    });
  });

  it('throws when SES refuses the message, so the signup can be taken back', async () => {
    ses.on(SendEmailCommand).rejects(Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' }));
    const sender = new SesEmailSender({ from: 'trials@example.com', client });

    await expect(sender.send({ to: 'ann@example.com', subject: 's', text: 't' })).rejects.toThrow('not verified');
  });
});
