/** Machine sizes people write in configs, mapped to each provider's instance types (data, not code). */
export const SIZES = ['small', 'medium', 'large', 'gpu'] as const;
export type Size = (typeof SIZES)[number];

export const SIZE_TO_INSTANCE_TYPES: Record<'local' | 'aws', Record<Size, readonly string[]>> = {
  local: {
    small: ['local.small'],
    medium: ['local.medium'],
    large: ['local.large'],
    gpu: ['local.gpu'],
  },
  aws: {
    small: ['t3.medium'],
    medium: ['m6i.xlarge'],
    large: ['m6i.4xlarge'],
    // Several GPU types so a spot launch can fall back when one has no capacity.
    gpu: ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge'],
  },
};

/** The preferred instance type for each size (the first of SIZE_TO_INSTANCE_TYPES). */
export const SIZE_TO_INSTANCE_TYPE: Record<'local' | 'aws', Record<Size, string>> = {
  local: preferred(SIZE_TO_INSTANCE_TYPES.local),
  aws: preferred(SIZE_TO_INSTANCE_TYPES.aws),
};

function preferred(types: Record<Size, readonly string[]>): Record<Size, string> {
  return Object.fromEntries(SIZES.map((size) => [size, types[size][0]!])) as Record<Size, string>;
}
