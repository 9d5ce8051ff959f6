// This package is ESM-only: require() cannot load it, and says so instead of a resolution error.
throw new Error(
  '@pg-static-cache/protocol is ESM-only: load it with import (or await import() from CommonJS), not require().',
);
