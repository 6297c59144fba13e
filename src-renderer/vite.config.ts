/**
 * vite.config.ts: builds the Svelte renderer into dist/renderer/ (repo root). `base: './'` because
 * the Electron shell loads the page through a custom protocol and `lshlab serve` may mount it
 * under any path; everything is bundled (no inline scripts, no remote fonts), so the page runs
 * under a strict CSP (`script-src 'self'`).
 */
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  plugins: [svelte()],
  build: {
    outDir: resolve(here, '../dist/renderer'),
    emptyOutDir: true,
    // Keep every script in a file of its own: the CSP forbids inline scripts, and Vite's
    // module-preload polyfill would be inlined otherwise.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 800,
    target: 'es2022',
  },
  server: {
    // Dev only: forward API calls to a running `lshlab serve` (LSHLAB_API=http://127.0.0.1:PORT).
    proxy: process.env['LSHLAB_API']
      ? { '/api': { target: process.env['LSHLAB_API'], ws: true, changeOrigin: true } }
      : undefined,
  },
});
