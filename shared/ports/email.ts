export interface EmailMessage {
  to: string;
  subject: string;
  /** Plain text only: a verification mail needs nothing more, and text is hard to get wrong. */
  text: string;
}

/** Sends one mail. Throws when the message was not accepted for delivery. */
export interface EmailSender {
  send(message: EmailMessage): Promise<void>;
}
