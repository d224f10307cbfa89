// Vite builds the dashboard into one small script and one stylesheet that xervo embeds
// (ui/dashboard.cmake). No plugins: esbuild compiles the JSX for Preact.
import { defineConfig } from 'vitest/config';

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
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
