/**
 * Debian's nginx as the reference reverse proxy: found on PATH (or /usr/sbin), installed
 * with apt-get when missing and running as root, and started in the foreground with a
 * config written to a temp dir (loopback only, one worker, keepalive to the upstream).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startChild } from './children.ts';

function findNginx(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  if (which.status === 0 && found !== '') return found;
  for (const path of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Path of the nginx binary, installing Debian's package first when needed and allowed. */
export function ensureNginx(log: (line: string) => void): string {
  const existing = findNginx();
  if (existing !== undefined) return existing;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'nginx is not installed and this is not root, so it cannot be installed here. ' +
        'Install it first (sudo apt-get install -y nginx), then run the benchmark again.',
    );
  }
  log('nginx not found: installing Debian package nginx (apt-get install -y nginx) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): number | null =>
    spawnSync('apt-get', ['install', '-y', '-q', 'nginx'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 }).status;
  if (install() !== 0) {
    // A fresh machine may have no package lists yet.
    spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
    if (install() !== 0) throw new Error('apt-get install -y nginx failed; see the messages above');
  }
  const installed = findNginx();
  if (installed === undefined) throw new Error('nginx was installed but its binary was not found on PATH or in /usr/sbin');
  return installed;
}

export function nginxVersion(binary: string): string {
  // nginx prints its version on stderr.
  return spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim() || 'nginx (version unknown)';
}

export interface NginxProxyOptions {
  binary: string;
  /** Working dir for config, pid, logs and temp files. */
  dir: string;
  listenPort: number;
  /** The upstream's port; `upstreamPorts` instead for several. */
  upstreamPort: number;
  /** Several upstreams (127.0.0.1:port each) balanced by `balance`. @default [upstreamPort] */
  upstreamPorts?: readonly number[];
  /** nginx's balancing method. @default round robin */
  balance?: 'least_conn';
  /** Pass responses through as they arrive (`proxy_buffering off`, what SSE needs). @default false */
  unbuffered?: boolean;
}

export function nginxConfig(o: NginxProxyOptions): string {
  const p = (name: string): string => join(o.dir, name);
  // Root masters drop workers to an unprivileged user that could not enter the 0700 temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
master_process on;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  keepalive_timeout 65;
  keepalive_requests 1000000;
  upstream workload {
${o.balance === 'least_conn' ? '    least_conn;\n' : ''}${(o.upstreamPorts ?? [o.upstreamPort]).map((port) => `    server 127.0.0.1:${port};\n`).join('')}    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${o.listenPort};
    location / {
      proxy_pass http://workload;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
${o.unbuffered === true ? '      proxy_buffering off;\n      proxy_read_timeout 300s;\n' : ''}    }
  }
}
`;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Writes the config and starts nginx in the foreground; resolves once it accepts connections. */
export async function startNginx(o: NginxProxyOptions): Promise<ChildProcess> {
  mkdirSync(o.dir, { recursive: true });
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(o));
  const test = spawnSync(o.binary, ['-t', '-q', '-p', `${o.dir}/`, '-e', join(o.dir, 'error.log'), '-c', conf], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx rejected the benchmark config ${conf}:\n${test.stderr}`);
  const child = startChild(o.binary, ['-p', `${o.dir}/`, '-e', join(o.dir, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}; see ${join(o.dir, 'error.log')}`);
    if (await portOpen(o.listenPort)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not accept connections on 127.0.0.1:${o.listenPort} within 10 s`);
}
