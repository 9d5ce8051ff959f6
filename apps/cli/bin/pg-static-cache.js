#!/usr/bin/env node
// Installed, `#main` is the built dist/main.js. Inside this repository, where processes run with
// NODE_OPTIONS=--conditions=@pg-static-cache/source, it is the TypeScript source, run through tsx
// (a development dependency of the repository, never of the package).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = import.meta.resolve('#main');
if (main.endsWith('.ts')) {
  (await import('tsx/esm/api')).register();
} else if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('pg-static-cache: dist/main.js is missing: run `npm run build` first\n');
  process.exit(2);
}
await import(main);
