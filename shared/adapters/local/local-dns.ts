import type { Dns } from '../../ports/dns.js';

/**
 * Embedded mode's DNS: `*.localhost` already resolves to this machine, where one gateway acts as
 * every shard, so a tenant's record needs nothing done.
 */
export class LocalDns implements Dns {
  async ensureRecord(): Promise<void> {}
  async removeRecord(): Promise<void> {}
}
