// Loads one Lambda handler module in a fresh Node process and prints how long that took, as JSON
// on the last line of stdout. Plain JavaScript, so that nothing but Node itself runs before the
// measurement. Usage: node init-runner.mjs <module file> [--check-network]
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [file, flag] = process.argv.slice(2);
let connections = 0;
if (flag === '--check-network') {
  // Not in timed runs: counts every outgoing socket (HTTP, HTTPS, fetch) the import opens.
  const net = await import('node:net');
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    connections += 1;
    return connect.apply(this, args);
  };
}

const cpuBefore = process.cpuUsage();
const start = performance.now();
const module = await import(pathToFileURL(file).href);
const end = performance.now();
const cpu = process.cpuUsage(cpuBefore);
if (typeof module.handler !== 'function') {
  process.stderr.write(`${file} exports no handler function\n`);
  process.exit(2);
}
if (flag === '--check-network') await new Promise((resolve) => setTimeout(resolve, 200));
// CPU time as well as wall time: on a busy machine the wall time includes waiting for a core.
process.stdout.write(`${JSON.stringify({ importMs: end - start, cpuMs: (cpu.user + cpu.system) / 1000, processMs: end, connections })}\n`);
