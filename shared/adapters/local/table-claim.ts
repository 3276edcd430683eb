import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from '../aws/tenant-table.js';
import { StartError } from './start-error.js';

/** How often a run renews its claim, and how long an unrenewed claim holds. */
export const CLAIM_RENEW_MS = 5_000;
export const CLAIM_STALE_MS = 30_000;

const CLAIM_KEY = { pk: keys.marker('embedded-run') };

interface Claim {
  runId: string;
  pid: number;
  host: string;
  /** Epoch ms. */
  renewedAt: number;
}

export interface TableClaim {
  /** Gives the table up, if this run still holds it. */
  release(): Promise<void>;
}

/**
 * One embedded run per tenant table. Two runs on one table (two `npm start`s on one
 * DORMOUSE_DYNAMODB_ENDPOINT) would each run every tenant, and each would answer from memory
 * what the other changed (CachedTenantStore): the second is refused at start, naming the first.
 * The claim is an item renewed every CLAIM_RENEW_MS; one not renewed for CLAIM_STALE_MS, or held
 * by a process of this machine that is gone (a run killed with kill -9), is taken over.
 */
export async function claimTable(options: {
  client: DynamoDBDocumentClient;
  tableName: string;
  onLost: (error: Error) => void;
  now?: () => number;
}): Promise<TableClaim> {
  const { client, tableName, onLost, now = Date.now } = options;
  // Renewed at each put.
  const mine: Omit<Claim, 'renewedAt'> = { runId: randomUUID(), pid: process.pid, host: hostname() };
  const put = (condition: string, values: Record<string, unknown>) =>
    client.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...CLAIM_KEY, kind: 'marker', ...mine, renewedAt: now() },
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
      }),
    );
  try {
    await put('attribute_not_exists(pk) OR runId = :me OR renewedAt < :stale', { ':me': mine.runId, ':stale': now() - CLAIM_STALE_MS });
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const { Item } = await client.send(new GetCommand({ TableName: tableName, Key: CLAIM_KEY, ConsistentRead: true }));
    const holder = Item as Claim | undefined;
    if (!holder || !isGoneFromThisMachine(holder)) throw heldBy(holder, tableName, now());
    await put('runId = :them', { ':them': holder.runId }).catch((lost: unknown) => {
      throw lost instanceof ConditionalCheckFailedException ? heldBy(undefined, tableName, now()) : lost;
    });
  }

  let held = true;
  const timer = setInterval(() => {
    put('runId = :me', { ':me': mine.runId }).catch((error: unknown) => {
      if (!(error instanceof ConditionalCheckFailedException)) return; // DynamoDB Local is down: the next renewal tries again.
      held = false;
      clearInterval(timer);
      onLost(new Error(`Another Dormouse run took over table ${tableName}: stop one of the two.`));
    });
  }, CLAIM_RENEW_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      if (!held) return;
      held = false;
      await client
        .send(
          new DeleteCommand({
            TableName: tableName,
            Key: CLAIM_KEY,
            ConditionExpression: 'runId = :me',
            ExpressionAttributeValues: { ':me': mine.runId },
          }),
        )
        .catch(() => {}); // Taken over, or DynamoDB Local already gone: nothing to give up.
    },
  };
}

function isGoneFromThisMachine(claim: Claim): boolean {
  if (claim.host !== hostname()) return false;
  try {
    process.kill(claim.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function heldBy(holder: Claim | undefined, tableName: string, at: number): StartError {
  const who = holder
    ? `process ${holder.pid} on ${holder.host}, seen ${Math.max(0, Math.round((at - holder.renewedAt) / 1000))} s ago`
    : 'another process';
  return new StartError(
    'DORMOUSE_TABLE_NAME',
    `table ${tableName} is in use by another Dormouse run (${who}); stop that run, or give this one a table of its own.`,
  );
}
