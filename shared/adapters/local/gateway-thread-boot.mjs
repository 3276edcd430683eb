// The gateways' thread (see gateway-thread.ts). Node 20 does not pass the TypeScript loader on to
// a worker, so the thread registers tsx itself, as the `dormouse` command does.
import { register } from 'tsx/esm/api';

register();
await import('./gateway-thread-worker.ts');
