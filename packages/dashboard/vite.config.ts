import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The page is built into dist/ (committed): the CLI serves it as static files, offline.
export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  // Relative URLs: the same build is served at the root (`synkti dashboard`) and under
  // /dashboard/ on every agent's port.
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle; no inline script (the server's CSP allows only 'self').
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
