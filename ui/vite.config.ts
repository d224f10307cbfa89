// Vite builds the dashboard into one small script and one stylesheet that xervo embeds
// (ui/dashboard.cmake). No plugins: esbuild compiles the JSX for Preact.
import { defineConfig } from 'vitest/config';

declare const process: { env: Record<string, string | undefined> }; // Node's, without @types/node

export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    // No inline script or style anywhere: the page's Content-Security-Policy allows 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npx vite` (development, hot reload): the API calls go to a running xervo serve.
  server: {
    proxy: Object.fromEntries(
      ['/v1', '/api', '/metrics', '/health'].map((p) => [p, { target: process.env.XERVO_URL ?? 'http://127.0.0.1:8080', changeOrigin: false }]),
    ),
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
