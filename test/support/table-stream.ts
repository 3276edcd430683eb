import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../shared/adapters/local/dynamodb-local.js';
import type { TestTables } from './dynamodb.js';

/**
 * Every record the table's stream holds, shaped as a Pipe delivers them: the SDK parses
 * ApproximateCreationDateTime into a Date, the Pipe's JSON carries epoch seconds.
 */
export async function streamAsPipeBatch({ client, endpoint, tenantTable }: TestTables): Promise<DynamoDBRecord[]> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tenantTable }));
  const StreamArn = Table?.LatestStreamArn;
  if (!StreamArn) throw new Error(`${tenantTable} has no stream`);
  const streams = new DynamoDBStreamsClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn }));
  const records: DynamoDBRecord[] = [];
  for (const { ShardId } of StreamDescription?.Shards ?? []) {
    let { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn, ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
    for (let round = 0; ShardIterator && round < 10; round++) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator }));
      if (!page.Records?.length) break;
      for (const { dynamodb, ...rest } of page.Records) {
        const seconds = dynamodb?.ApproximateCreationDateTime && dynamodb.ApproximateCreationDateTime.getTime() / 1000;
        records.push(JSON.parse(JSON.stringify({ ...rest, dynamodb: { ...dynamodb, ApproximateCreationDateTime: seconds } })));
      }
      ShardIterator = page.NextShardIterator;
    }
  }
  return records.sort((a, b) => (BigInt(a.dynamodb?.SequenceNumber ?? 0) < BigInt(b.dynamodb?.SequenceNumber ?? 0) ? -1 : 1));
}
