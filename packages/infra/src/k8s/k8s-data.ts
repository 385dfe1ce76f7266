/**
 * The region and machine-size tables of `KubernetesCluster`, read from
 * `packages/infra/data/*.json` and checked once. They are data, not code branches: adding a
 * region is adding one entry to `k8s-regions.json` (or passing a table with one more entry
 * as `regionTable`), nothing else.
 */
import { readFileSync } from 'node:fs';
import { SynktiError } from '@synkti/core';

export const K8S_PROVIDERS = ['aws', 'gcp', 'digitalocean'] as const;
export type K8sProvider = (typeof K8S_PROVIDERS)[number];

export const MACHINE_SIZES = ['small', 'medium', 'large'] as const;
export type MachineSize = (typeof MACHINE_SIZES)[number];

export interface RegionEntry {
  description?: string | undefined;
  /** The primary region of a multi-region deployment (reference: nyc1). */
  primary?: boolean | undefined;
  aws: string;
  gcp: string;
  /** Zones of the GCP region the control plane is spread over. */
  gcpZones: string[];
  digitalocean: string;
}

export type RegionTable = Readonly<Record<string, RegionEntry>>;

export interface ProviderMachine {
  type: string;
  arch: 'arm64' | 'amd64';
  /** Same vCPU/memory/architecture types a spot group may also use (AWS). */
  spotAlternatives?: string[] | undefined;
}

export interface SizeEntry {
  vcpus: number;
  memoryGiB: number;
  aws: ProviderMachine;
  gcp: ProviderMachine;
  digitalocean: ProviderMachine;
}

export type SizeTable = Readonly<Record<MachineSize, SizeEntry>>;

export const E_K8S_DATA = 'E_INFRA_DATA';

const RE = {
  name: /^[a-z][a-z0-9-]{1,15}$/,
  aws: /^[a-z]{2}(-gov)?-[a-z]+-\d$/,
  gcp: /^[a-z]+-[a-z]+\d+$/,
  do: /^[a-z]{3}\d$/,
  awsType: /^[a-z][a-z0-9-]*\.[a-z0-9]+$/,
  gcpType: /^[a-z][a-z0-9]*-[a-z0-9-]+$/,
  doType: /^[a-z0-9-]+$/,
};

function bad(where: string, problem: string): SynktiError {
  return new SynktiError(E_K8S_DATA, `${where} ${problem}`, {
    hint: 'fix the entry (see packages/infra/data/k8s-regions.json and k8s-machine-sizes.json for the shape)',
  });
}

const isRec = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a region table (shape and each provider's region syntax); returns it typed. */
export function validateRegionTable(value: unknown, where = 'region table'): RegionTable {
  if (!isRec(value)) throw bad(where, 'is not an object of region entries');
  const out: Record<string, RegionEntry> = {};
  for (const [name, entry] of Object.entries(value)) {
    const w = `${where}: region "${name}"`;
    if (!RE.name.test(name)) throw bad(w, 'has an invalid name (2-16 lower-case letters, digits, "-")');
    if (!isRec(entry)) throw bad(w, 'is not an object');
    const { aws, gcp, gcpZones, digitalocean } = entry;
    if (typeof aws !== 'string' || !RE.aws.test(aws)) throw bad(w, `aws "${String(aws)}" is not an AWS region`);
    if (typeof gcp !== 'string' || !RE.gcp.test(gcp)) throw bad(w, `gcp "${String(gcp)}" is not a GCP region`);
    if (typeof digitalocean !== 'string' || !RE.do.test(digitalocean))
      throw bad(w, `digitalocean "${String(digitalocean)}" is not a DigitalOcean region slug`);
    if (!Array.isArray(gcpZones) || gcpZones.length === 0 || !gcpZones.every((z) => typeof z === 'string' && z.startsWith(`${gcp}-`))) {
      throw bad(w, `gcpZones must list zones of ${gcp} (e.g. ${gcp}-a)`);
    }
    out[name] = {
      aws,
      gcp,
      digitalocean,
      gcpZones: [...(gcpZones as string[])],
      ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
      primary: entry.primary === true,
    };
  }
  if (Object.keys(out).length === 0) throw bad(where, 'has no region');
  return out;
}

function machine(value: unknown, where: string, re: RegExp): ProviderMachine {
  if (!isRec(value) || typeof value.type !== 'string' || !re.test(value.type)) throw bad(where, 'needs a valid "type"');
  if (value.arch !== 'arm64' && value.arch !== 'amd64') throw bad(where, 'arch must be arm64 or amd64');
  const alts = value.spotAlternatives;
  if (alts !== undefined && (!Array.isArray(alts) || !alts.every((t) => typeof t === 'string' && re.test(t))))
    throw bad(where, 'spotAlternatives must be instance types');
  return { type: value.type, arch: value.arch, ...(alts ? { spotAlternatives: [...(alts as string[])] } : {}) };
}

/** Checks the machine-size table: every size, every provider. */
export function validateSizeTable(value: unknown, where = 'size table'): SizeTable {
  if (!isRec(value)) throw bad(where, 'is not an object');
  const out: Partial<Record<MachineSize, SizeEntry>> = {};
  for (const size of MACHINE_SIZES) {
    const e = value[size];
    if (!isRec(e)) throw bad(where, `lacks size "${size}"`);
    out[size] = {
      vcpus: Number(e.vcpus),
      memoryGiB: Number(e.memoryGiB),
      aws: machine(e.aws, `${where}: ${size}.aws`, RE.awsType),
      gcp: machine(e.gcp, `${where}: ${size}.gcp`, RE.gcpType),
      digitalocean: machine(e.digitalocean, `${where}: ${size}.digitalocean`, RE.doType),
    };
  }
  return out as SizeTable;
}

/** `packages/infra/data/<file>` */
export function infraDataPath(file: string): URL {
  return new URL(`../../data/${file}`, import.meta.url);
}

function readJson(url: URL): unknown {
  try {
    return JSON.parse(readFileSync(url, 'utf8'));
  } catch (cause) {
    throw new SynktiError(E_K8S_DATA, `cannot read ${url.pathname}`, { cause, hint: 'the file must be valid JSON' });
  }
}

/** The shipped region table (`data/k8s-regions.json`), or another file of the same shape. */
export function loadRegionTable(url: URL = infraDataPath('k8s-regions.json')): RegionTable {
  const doc = readJson(url);
  return validateRegionTable(isRec(doc) ? doc.regions : undefined, url.pathname.split('/').pop());
}

export function loadSizeTable(url: URL = infraDataPath('k8s-machine-sizes.json')): SizeTable {
  const doc = readJson(url);
  return validateSizeTable(isRec(doc) ? doc.sizes : undefined, url.pathname.split('/').pop());
}

export const K8S_REGIONS: RegionTable = loadRegionTable();
export const K8S_MACHINE_SIZES: SizeTable = loadSizeTable();
