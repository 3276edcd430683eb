#!/usr/bin/env node
// The `dormouse` command: registers tsx so Node 20 runs the TypeScript CLI straight from a clone.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./main.ts');
const stop = new AbortController();
// Ctrl-C ends `logs --follow` and `--wait` cleanly; a second one kills the process as usual.
process.once('SIGINT', () => stop.abort());
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  signal: stop.signal,
});
