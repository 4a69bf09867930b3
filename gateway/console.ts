import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { ApolloServerPlugin } from '@apollo/server';
import type { Route } from '../src/http.js';
import { fromRoot } from '../src/paths.js';

/**
 * The web console's static files (console/dist, built by `npm run build`) at /console, and a
 * landing page on GET / and /graphql that links to it: nothing is loaded from a CDN.
 */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export function consoleRoute(distDir = fromRoot('console', 'dist')): Route {
  return async (req, res, url) => {
    if (url.pathname === '/' && req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
      res.writeHead(302, { location: '/console/' });
      res.end();
      return true;
    }
    if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return true;
    }
    if (url.pathname === '/console') {
      res.writeHead(301, { location: '/console/' });
      res.end();
      return true;
    }
    const rel = normalize(decodeURIComponent(url.pathname.slice('/console/'.length)) || 'index.html');
    if (rel.startsWith('..') || rel.includes(`${sep}..`) || rel.includes('\0')) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('Bad path.');
      return true;
    }
    // Unknown paths get the app (it routes by hash); hashed assets are immutable.
    let file = join(distDir, rel);
    let info = await stat(file).catch(() => undefined);
    if (!info?.isFile() && !rel.startsWith('assets')) {
      file = join(distDir, 'index.html');
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) {
      res.writeHead(rel.startsWith('assets') ? 404 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(rel.startsWith('assets') ? 'Not found.' : 'The console is not built: run `npm run build`.');
      return true;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
    return true;
  };
}

/** Apollo's landing page, replaced: a plain page pointing at the console (no CDN scripts). */
export function consoleLandingPage(): ApolloServerPlugin {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>confidential-mesh gateway</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>confidential-mesh gateway</h1>
<p>This is the GraphQL endpoint (POST with a bearer token). Browse the mesh in the <a href="/console/">web console</a>.</p>
</body></html>`;
  return {
    async serverWillStart() {
      return { async renderLandingPage() { return { html }; } };
    },
  };
}
