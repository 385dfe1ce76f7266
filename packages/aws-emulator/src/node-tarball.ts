/**
 * The Node.js runtime tarball the worker boot script installs
 * (`node-v<version>-linux-<arch>.tar.xz`, one top directory holding `bin/node`), built
 * from this host's node because the emulator has no internet to download Node's own.
 *
 * By default `bin/node` is a two-line shell wrapper that execs this host's node binary:
 * a full copy is ~100 MB, takes ~6 s to xz (level 0, 2 cores) and ~2 s to unpack on every
 * emulated boot, and the emulated machines run on this host anyway. The boot script still
 * downloads it from the emulated S3, checks its SHA-256, unpacks it and runs
 * `bin/node --version` as on EC2. `copy: true` packs the real binary instead.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeTarballKey } from '@synkti/cloud';
import { SynktiError } from '@synkti/core';

export interface NodeTarballOptions {
  /**
   * Pack a copy of the node binary instead of a wrapper that execs it.
   * @default false
   */
  copy?: boolean | undefined;
  /**
   * The node binary.
   * @default process.execPath
   */
  nodeBinary?: string | undefined;
  /**
   * Its version (the boot script insists on 20.x).
   * @default process.versions.node
   */
  version?: string | undefined;
}

export interface NodeTarball {
  /** Absolute path of `node-v<version>-linux-x64.tar.xz`. */
  file: string;
  /** Where the boot script looks for it in the bucket: artifacts/node-v<version>-linux-x64.tar.xz. */
  key: string;
  version: string;
  sha256: string;
  bytes: number;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new SynktiError('E_NODE_TARBALL', `${command} ${args[0]} exited with ${code}: ${stderr.trim().slice(0, 500)}`, {
            hint: 'tar and xz must be installed',
          }),
        );
    });
  });
}

/** Builds `<dir>/node-v<version>-linux-x64.tar.xz` (reproducible: sorted, fixed owner and time). */
export async function makeNodeTarball(dir: string, options: NodeTarballOptions = {}): Promise<NodeTarball> {
  const version = options.version ?? process.versions.node;
  const nodeBinary = options.nodeBinary ?? process.execPath;
  if (process.arch !== 'x64') {
    throw new SynktiError('E_NODE_TARBALL', `the emulated workers are x64 and this host is ${process.arch}`, {
      hint: 'run the emulator on an x64 Linux host',
    });
  }
  const key = nodeTarballKey(version, 'x64');
  const top = `node-v${version}-linux-x64`;
  mkdirSync(dir, { recursive: true });
  const build = mkdtempSync(join(dir, '.node-tarball-'));
  try {
    mkdirSync(join(build, top, 'bin'), { recursive: true });
    const bin = join(build, top, 'bin', 'node');
    if (options.copy) {
      copyFileSync(nodeBinary, bin);
    } else {
      // Single-quoted for sh; a path with a quote in it is refused rather than escaped.
      if (nodeBinary.includes("'"))
        throw new SynktiError('E_NODE_TARBALL', `nodeBinary: ${nodeBinary} contains a quote`, {
          hint: 'use a node binary path without quotes',
        });
      writeFileSync(bin, `#!/bin/sh\nexec '${nodeBinary}' "$@"\n`);
    }
    chmodSync(bin, 0o755);
    const file = join(dir, `${top}.tar.xz`);
    await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-cJf', file, '-C', build, top], {
      XZ_OPT: '-0 -T0',
    });
    const body = readFileSync(file);
    return { file, key, version, sha256: createHash('sha256').update(body).digest('hex'), bytes: statSync(file).size };
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}
