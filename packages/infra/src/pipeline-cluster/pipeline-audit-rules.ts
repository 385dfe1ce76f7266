/**
 * Audit rules for data services and monitoring, added to issue 7's AUDIT_RULES: databases
 * private, encrypted and backed up; database proxies requiring TLS; caches encrypted;
 * no credentials inside plain environment values; and no alarm, scaling policy or
 * dashboard on a metric nothing emits (docs/field-notes.md).
 */
import { containerEnvironment, type AuditResource, type AuditRule, type Finding } from '../audit/audit-rules.ts';
import { knownMetricKeys } from './pipeline-metrics.ts';

const T = {
  rds: 'aws:rds/instance:Instance',
  rdsCluster: 'aws:rds/cluster:Cluster',
  proxy: 'aws:rds/proxy:Proxy',
  cache: 'aws:elasticache/replicationGroup:ReplicationGroup',
  taskDef: 'aws:ecs/taskDefinition:TaskDefinition',
  alarm: 'aws:cloudwatch/metricAlarm:MetricAlarm',
  appPolicy: 'aws:appautoscaling/policy:Policy',
  asgPolicy: 'aws:autoscaling/policy:Policy',
  dashboard: 'aws:cloudwatch/dashboard:Dashboard',
} as const;

const ref = (r: AuditResource): string => `${r.type}::${r.name}`;
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const truthy = (v: unknown): boolean => v === true || v === 'true';
const err = (rule: string, r: AuditResource, message: string, fix: string): Finding => ({
  rule,
  severity: 'error',
  resource: ref(r),
  message,
  fix,
});

/** Every {namespace, metricName} object anywhere in a value. */
function metricRefs(
  value: unknown,
  out: Array<{ namespace: string; metricName: string }> = [],
): Array<{ namespace: string; metricName: string }> {
  if (Array.isArray(value)) {
    for (const v of value) metricRefs(v, out);
  } else if (typeof value === 'object' && value !== null) {
    const x = value as Record<string, unknown>;
    if (typeof x.namespace === 'string' && typeof x.metricName === 'string') out.push({ namespace: x.namespace, metricName: x.metricName });
    for (const v of Object.values(x)) metricRefs(v, out);
  }
  return out;
}

/** Metrics of a dashboard body: `[namespace, metricName, dims...]` rows of metric widgets. */
function dashboardMetrics(body: unknown): Array<{ namespace: string; metricName: string }> {
  let doc: unknown = body;
  if (typeof body === 'string') {
    try {
      doc = JSON.parse(body);
    } catch {
      return [];
    }
  }
  const out: Array<{ namespace: string; metricName: string }> = [];
  for (const w of (rec(doc).widgets as unknown[] | undefined) ?? []) {
    for (const row of (rec(rec(w).properties).metrics as unknown[] | undefined) ?? []) {
      if (Array.isArray(row) && typeof row[0] === 'string' && typeof row[1] === 'string' && row[0].includes('/'))
        out.push({ namespace: row[0], metricName: row[1] });
    }
  }
  return out;
}

const CREDENTIAL_VALUE = [
  { re: /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^@\s]+@/i, what: 'a URL with a password' },
  { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: 'a private key' },
  { re: /^(0x)?[0-9a-f]{64}$/i, what: 'a 32-byte hex key' },
];

/** `metric-not-emitted` over a given set of `namespace/metricName` keys. */
export function metricNotEmittedRule(known: ReadonlySet<string> = knownMetricKeys()): AuditRule {
  return {
    id: 'metric-not-emitted',
    severity: 'error',
    description: 'alarms, scaling policies and dashboards read only metrics something emits (pipeline-metrics.ts)',
    check: (resources) =>
      resources.flatMap((r): Finding[] => {
        const refs =
          r.type === T.alarm || r.type === T.appPolicy || r.type === T.asgPolicy
            ? metricRefs(r.inputs)
            : r.type === T.dashboard
              ? dashboardMetrics(r.inputs.dashboardBody)
              : [];
        return refs
          .filter((m) => !known.has(`${m.namespace}/${m.metricName}`))
          .map((m) =>
            err(
              'metric-not-emitted',
              r,
              `reads ${m.namespace} ${m.metricName}, which nothing is known to emit`,
              'use a metric of EMITTED_METRICS, or add the code that publishes it and list it there',
            ),
          );
      }),
  };
}

export const PIPELINE_AUDIT_RULES: readonly AuditRule[] = [
  {
    id: 'database-public',
    severity: 'error',
    description: 'databases are not publicly accessible',
    check: (resources) =>
      resources
        .filter((r) => (r.type === T.rds || r.type === T.rdsCluster) && truthy(r.inputs.publiclyAccessible))
        .map((r) =>
          err('database-public', r, 'publiclyAccessible is on', 'set publiclyAccessible: false; reach it through the proxy from the VPC'),
        ),
  },
  {
    id: 'database-encryption',
    severity: 'error',
    description: 'database storage is encrypted',
    check: (resources) =>
      resources
        .filter((r) => (r.type === T.rds || r.type === T.rdsCluster) && !truthy(r.inputs.storageEncrypted))
        .map((r) => err('database-encryption', r, 'storage is not encrypted', 'set storageEncrypted: true')),
  },
  {
    id: 'database-backups',
    severity: 'error',
    description: 'databases keep automated backups',
    check: (resources) =>
      resources
        .filter((r) => (r.type === T.rds || r.type === T.rdsCluster) && !(Number(r.inputs.backupRetentionPeriod ?? 0) >= 1))
        .map((r) =>
          err(
            'database-backups',
            r,
            `backup retention is ${String(r.inputs.backupRetentionPeriod ?? 0)} days`,
            'set backupRetentionPeriod to 1-35 days',
          ),
        ),
  },
  {
    id: 'database-proxy-tls',
    severity: 'error',
    description: 'database proxies require TLS',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.proxy && !truthy(r.inputs.requireTls))
        .map((r) => err('database-proxy-tls', r, 'TLS is not required', 'set requireTls: true')),
  },
  {
    id: 'cache-encryption',
    severity: 'error',
    description: 'caches encrypt in transit and at rest',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.cache && !(truthy(r.inputs.transitEncryptionEnabled) && truthy(r.inputs.atRestEncryptionEnabled)))
        .map((r) =>
          err('cache-encryption', r, 'transit or at-rest encryption is off', 'set transitEncryptionEnabled and atRestEncryptionEnabled'),
        ),
  },
  {
    id: 'credential-in-env-value',
    severity: 'error',
    description: 'no credential inside a plain environment value',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.taskDef)
        .flatMap((r): Finding[] => {
          return containerEnvironment(r).flatMap((e): Finding[] => {
            const value = String(rec(e).value ?? '');
            const hit = CREDENTIAL_VALUE.find((c) => c.re.test(value));
            return hit
              ? [
                  err(
                    'credential-in-env-value',
                    r,
                    `environment variable ${String(rec(e).name)} holds ${hit.what}`,
                    'move it to Secrets Manager and inject it with secrets/valueFrom',
                  ),
                ]
              : [];
          });
        }),
  },
  metricNotEmittedRule(),
];
