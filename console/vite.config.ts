import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by the gateway under /console, from console/dist (no CDN at run time).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // GraphiQL's editor (Monaco) is large; it is a lazy chunk loaded only by the playground.
    chunkSizeWarningLimit: 4000,
    sourcemap: false,
    rollupOptions: {
      onwarn(warning, warn) {
        // GraphiQL ships "use no memo" directives, meaningless in a bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  worker: { format: 'es' },
  // `npm run console:dev`: hot reload against a mesh started with `npm start`.
  server: {
    proxy: {
      '/graphql': process.env.CDM_GATEWAY_URL ?? 'http://127.0.0.1:4000',
      '/export': process.env.CDM_GATEWAY_URL ?? 'http://127.0.0.1:4000',
    },
  },
});
