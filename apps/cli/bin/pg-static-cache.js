#!/usr/bin/env node
// The CLI ships as TypeScript run through tsx, so there is no build step between a change and `npx pg-static-cache`.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
