// An esbuild plugin for Synkti's bundles (the CLI's, packages/cli/bin/cli-bundle.mjs, and
// the agent release's, agent-bundle.ts beside this file): zod's `locales` namespace (`z.locales.*`: every
// language's error messages, ~370 KB of the ~800 KB zod compiles to) becomes English only.
// A bundler keeps all of them because `z` is one object. Synkti never switches zod's
// locale (its config errors are its own text) and zod's schemas import English directly,
// so nothing else changes: each process that loads zod parses less and holds ~6 MB less.
// Plain JavaScript: cli-bundle.mjs loads it before anything can compile TypeScript.
import { join, sep } from 'node:path';

const NAMESPACE = 'synkti-zod-english';

/** @type {import('esbuild').Plugin} */
export const zodEnglishOnly = {
  name: 'synkti-zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!args.importer.includes(`${sep}node_modules${sep}zod${sep}`)) return undefined;
      return { path: join(args.resolveDir, '..', 'locales', 'index.js'), namespace: NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      resolveDir: join(args.path, '..'),
      loader: 'js',
    }));
  },
};
