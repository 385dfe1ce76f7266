import type { Plugin } from 'esbuild';
/** esbuild plugin: zod's `locales` namespace holds English only in Synkti's bundles. */
export declare const zodEnglishOnly: Plugin;
