#!/usr/bin/env node
// Runs one tenant command for embedded mode's local compute, and makes it die with the control
// plane however the control plane ends, SIGKILL included (which no handler of its own survives):
//
//   node tenant-supervisor.mjs --dormouse-task=<marker> <control plane pid> -- <program> [args…]
//
// This process leads the task's process group; the tenant runs in it. The control plane signals
// the whole group, so the tenant gets SIGTERM itself, and this process only waits to report how
// the tenant ended (same exit code, or same signal). Should the control plane go away, this
// process is re-parented: it then sends the group SIGTERM, and SIGKILL after a short grace.
// The marker on its command line is how a later run recognises a leftover group as Dormouse's.
// Plain JavaScript with no dependencies: it starts in a few tens of milliseconds.
import { spawn } from 'node:child_process';

const PARENT_POLL_MS = 200;
const ORPHAN_GRACE_MS = 2_000;

const [, , marker, parentArg, separator, program, ...args] = process.argv;
const parent = Number(parentArg);
if (!marker?.startsWith('--dormouse-task=') || separator !== '--' || !program || !Number.isInteger(parent)) {
  console.error('usage: tenant-supervisor.mjs --dormouse-task=<marker> <parent pid> -- <program> [args…]');
  process.exit(2);
}

let orphaned = false;

function signalGroup(signal) {
  try {
    process.kill(-process.pid, signal);
  } catch {
    // Nothing left in the group.
  }
}

// Signals sent to the group reach the tenant directly; this process outlives them to report.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => {});

const child = spawn(program, args, { stdio: 'inherit' });

child.on('error', (error) => {
  // The last stderr line becomes the task's stop reason.
  console.error(`Could not start ${program}: ${error.message}`);
  process.exit(127);
});

child.on('exit', (code, signal) => {
  // Orphaned: whatever the tenant forked goes with it, this process included.
  if (orphaned) signalGroup('SIGKILL');
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    // A signal whose default action is not to end the process: say so by the shell's convention.
    setTimeout(() => process.exit(129), 100);
    return;
  }
  process.exit(code ?? 1);
});

const watchdog = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watchdog);
  orphaned = true;
  signalGroup('SIGTERM');
  setTimeout(() => signalGroup('SIGKILL'), ORPHAN_GRACE_MS);
}, PARENT_POLL_MS);
