// What tests may use of the demo: its tables and how to clean up after a run.
export { appRoleName, bridgeRoleName, dropDemo, DEMO_TABLES, type DemoTable } from './schema.ts';
export { dropDemoNamespace } from './bridges.ts';
