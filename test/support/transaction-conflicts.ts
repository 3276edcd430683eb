import { performance } from 'node:perf_hooks';
import { TransactionCanceledException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** What one item of a TransactWriteItems request names, as the low-level client sees it. */
interface TransactItemInput {
  Put?: { TableName?: string; Item?: Record<string, unknown> };
  Update?: { TableName?: string; Key?: Record<string, unknown> };
  Delete?: { TableName?: string; Key?: Record<string, unknown> };
  ConditionCheck?: { TableName?: string; Key?: Record<string, unknown> };
}

export interface TransactionConflicts {
  /** Transactions cancelled because another one held one of their items. */
  conflicts(): number;
  /** Transactions sent, cancelled or not. */
  transactions(): number;
}

function itemKey(item: TransactItemInput): string {
  const [operation] = Object.values(item) as { TableName?: string; Key?: Record<string, unknown>; Item?: Record<string, unknown> }[];
  return `${operation?.TableName}/${JSON.stringify(operation?.Key ?? { pk: operation?.Item?.pk })}`;
}

/**
 * About how long DynamoDB takes over a TransactWriteItems in the region (tens of milliseconds):
 * how long a transaction keeps its items from other transactions.
 */
export const TRANSACTION_HOLD_MS = 20;

/**
 * Makes `client` cancel a transaction, as DynamoDB does, when another transaction that
 * touches one of its items is in flight: TransactionCanceledException with the reason
 * `TransactionConflict` at the items held by the other, `None` elsewhere. DynamoDB Local runs
 * transactions one at a time instead, so without this a hot item costs only waiting there.
 * In flight means for `holdMs` from the request, DynamoDB's own time for it; not until the
 * answer, which from DynamoDB Local includes the wait behind every other transaction of the
 * table, where DynamoDB would run transactions on different items side by side.
 */
export function modelTransactionConflicts(client: DynamoDBClient, { holdMs = TRANSACTION_HOLD_MS } = {}): TransactionConflicts {
  const held = new Map<string, number>();
  let conflicts = 0;
  let transactions = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      const items = (args.input as { TransactItems?: TransactItemInput[] }).TransactItems;
      if (!items) return next(args);
      transactions += 1;
      const itemKeys = items.map(itemKey);
      const now = performance.now();
      const busy = (key: string) => (held.get(key) ?? 0) > now;
      if (itemKeys.some(busy)) {
        conflicts += 1;
        const codes = itemKeys.map((key) => (busy(key) ? 'TransactionConflict' : 'None'));
        throw new TransactionCanceledException({
          message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: codes.map((Code) => ({
            Code,
            ...(Code === 'TransactionConflict' ? { Message: 'Transaction is ongoing for the item' } : {}),
          })),
        });
      }
      for (const key of itemKeys) held.set(key, now + holdMs);
      return next(args);
    },
    { step: 'initialize', name: 'modelTransactionConflicts' },
  );
  return { conflicts: () => conflicts, transactions: () => transactions };
}
