import { fileURLToPath } from 'node:url';

/** The shipped 6-zone p3.2xlarge availability traces (45 days from 2023-02-15; source in data/SOURCE.md). */
export const DEFAULT_TRACE_DIR = fileURLToPath(new URL('../data/availability-aws-v100-2023-02', import.meta.url));
