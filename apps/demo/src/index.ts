// What tests and other tools may use of the demo: its tables and how to clean up after a run.
export { appRoleName, dropDemo, DEMO_TABLES, type DemoTable } from './schema.ts';
export { parseAppLine, type AppLine, type AppMode } from './app-events.ts';
