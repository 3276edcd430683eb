import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's nginx package installs it. */
export const NGINX = '/usr/sbin/nginx';

export interface NginxProxy {
  url: string;
  stop(): Promise<void>;
}

/**
 * nginx as a reverse proxy to one upstream, on loopback, from a temporary prefix: the reference a
 * reverse proxy's added latency is measured against. Configured as one would put it in front of
 * an app (HTTP/1.1 with kept-alive upstream connections, no access log) and, like the gateway,
 * keeping a client's connection open for 5 s after its answer. Undefined when nginx is not installed.
 */
export async function startNginxProxy(upstream: string): Promise<NginxProxy | undefined> {
  if (!existsSync(NGINX)) return undefined;
  const prefix = await mkdtemp(join(tmpdir(), 'dormouse-bench-nginx-'));
  const port = await freePort();
  const config = `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  # As the gateway: a visitor's connection stays open 5 s for its next request, with no limit on its requests.
  keepalive_timeout 5s;
  keepalive_requests 1000000;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream tenant { server ${upstream}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tenant;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
  await writeFile(join(prefix, 'nginx.conf'), config);
  const child = spawn(NGINX, ['-e', join(prefix, 'error.log'), '-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(prefix, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`nginx exited with code ${child.exitCode}; see its configuration in a fresh run`);
    }
    if (await answers(url)) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error('nginx did not start listening within 10 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((response) => response.arrayBuffer());
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on now (nginx cannot be told to pick one and report it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
