/**
 * `transform` hooks: how a user adjusts a child resource of a Synkti component without
 * forking it (the shape SST v3's components use). A hook is either
 * - an object, merged over the args the component built (shallow: a key replaces the key), or
 * - a function that receives those args, the resource options and the logical name, and
 *   changes the args (or options) in place before the resource is created.
 * The logical name is for reading only: renaming a child would replace it on `pulumi up`.
 */
import type * as pulumi from '@pulumi/pulumi';

/** An adjustment of one child resource's args. */
export type Transform<Args> = Partial<Args> | ((args: Args, opts: pulumi.CustomResourceOptions, name: string) => void);

/** A Pulumi resource constructor (`new aws.ec2.Vpc(name, args, opts)`). */
export type ResourceConstructor<Args, R> = new (name: string, args: Args, opts?: pulumi.CustomResourceOptions) => R;

/**
 * Creates `new Ctor(name, args, opts)` after applying `transform` to `args` (and `opts`).
 * The component's own args are never shared with the hook: it gets a shallow copy, so one
 * hook run cannot leak into the next resource of the same kind.
 */
export function withTransform<Args extends object, R>(
  Ctor: ResourceConstructor<Args, R>,
  name: string,
  args: Args,
  opts: pulumi.CustomResourceOptions,
  transform: Transform<Args> | undefined,
): R {
  if (transform === undefined) return new Ctor(name, args, opts);
  if (typeof transform === 'function') {
    const ownArgs = { ...args };
    const ownOpts = { ...opts };
    transform(ownArgs, ownOpts, name);
    return new Ctor(name, ownArgs, ownOpts);
  }
  return new Ctor(name, { ...args, ...transform }, opts);
}

/** What every part of a component is built from (its `createX` functions take this). */
export interface ComponentParts<Resolved, Args, Hooks> {
  /** The component's name: the prefix of every child's logical name. */
  name: string;
  /** The validated args with defaults filled in. */
  a: Resolved;
  /** The args as given. */
  args: Args;
  /** Options of every child: parent and the region's provider. */
  o: pulumi.CustomResourceOptions;
  tags: Record<string, string>;
  /** The user's transform hooks. */
  t: Hooks;
}
