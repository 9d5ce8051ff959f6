// What can be checked of the deployment files without a Docker engine or a Kubernetes cluster:
// every YAML parses; the Kubernetes objects pass the official API schemas (kubernetes-models ships
// them) and carry what a bridge needs (probes on the bridge's real port and paths, the PDB, a
// non-root read-only container); compose's services run subcommands and flags the CLI has; the
// Dockerfile's stages, user, health check and entry point; the systemd unit's hardening; and every
// variable any of them sets is one the bridge reads. image-layout.test.ts runs what can be run.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serviceUrls } from '@pg-static-cache/local-services';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import {
  PodDisruptionBudget,
  type IPodDisruptionBudget,
} from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli } from '../support/process.ts';
import {
  BRIDGE_DEFAULTS,
  ENDPOINTS,
  filesIn,
  fromRoot,
  parseUnitFile,
  pscVariablesIn,
  readDockerfile,
  readRepoFile,
  readYamlDocuments,
  SETTING_VARIABLES,
} from './deploy-files.ts';
import { lastOf, runtimeEnv, stageNamed, type Dockerfile, type Stage } from './dockerfile.ts';

const PORT = BRIDGE_DEFAULTS.httpPort;
const K8S = 'deploy/k8s';
const IMAGE_COMMAND = 'pg-static-cache';

// ---- The CLI the image runs: its subcommands and each one's flags, from its own --help. ----

/** `pg-static-cache <sub> --help` for every subcommand, read once. */
let cliHelp: ReadonlyMap<string, string>;

async function helpOf(args: readonly string[]): Promise<string> {
  const run = await runCli([...args, '--help'], { timeoutMs: 60_000 });
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}

beforeAll(async () => {
  const top = await helpOf([]);
  const commands = [...top.matchAll(/^ {2}([a-z][a-z-]*) \[options\]/gm)].map((m) => m[1] ?? '');
  expect(commands).toContain('bridge');
  const pages = await Promise.all(commands.map(async (c) => [c, await helpOf([c])] as const));
  cliHelp = new Map(pages);
}, 120_000);

/** Fails unless `args` is a subcommand of the CLI followed by flags it documents. */
function expectCliAccepts(args: readonly string[], where: string): void {
  const [command = '', ...rest] = args;
  const help = cliHelp.get(command);
  expect(help, `${where}: "${command}" is not a pg-static-cache subcommand`).toBeDefined();
  for (const flag of rest.filter((a) => a.startsWith('--'))) {
    expect(help, `${where}: ${command} has no ${flag}`).toMatch(new RegExp(`\\s${flag}[ ,=\\n]`));
  }
}

// ---- Dockerfile ----

describe('Dockerfile', () => {
  let dockerfile: Dockerfile;
  let runtime: Stage;
  beforeAll(async () => {
    dockerfile = await readDockerfile();
    runtime = dockerfile.stages.at(-1) ?? stageNamed(dockerfile, 'runtime');
  });

  it('builds in one stage and runs from a second one on the same small Node 20 base', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    for (const stage of dockerfile.stages) {
      expect(stage.from).toMatch(/^node:20(?:\.[\d.]+)?-(?:bookworm-slim|alpine)(?:@sha256:\w+)?$/);
    }
    // Native optional prebuilds installed in the build stage must fit the runtime's libc.
    expect(new Set(dockerfile.stages.map((s) => s.from)).size).toBe(1);
  });

  it('installs with npm ci from every workspace manifest, then builds', async () => {
    const build = stageNamed(dockerfile, 'build');
    const keywords = build.instructions.map((i) => `${i.keyword} ${i.text}`);
    const ci = keywords.findIndex((k) => /^RUN npm ci\b/.test(k));
    const buildRun = keywords.indexOf('RUN npm run build');
    expect(ci).toBeGreaterThan(0);
    expect(buildRun).toBeGreaterThan(ci);
    // npm ci fails without a workspace's package.json: each must be copied before it runs.
    const copied = build.instructions
      .slice(0, ci)
      .filter((i) => i.keyword === 'COPY')
      .flatMap((i) => i.text.split(/\s+/).slice(0, -1));
    for (const workspace of await workspaces()) {
      expect(copied, `${workspace}/package.json is not copied before npm ci`).toContain(
        `${workspace}/package.json`,
      );
    }
  });

  it('packs exactly the published packages and installs them without dev dependencies', async () => {
    const build = stageNamed(dockerfile, 'build');
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.text);
    const pack = runs.find((r) => r.includes('npm pack'));
    const packed = [...(pack ?? '').matchAll(/-w (\S+)/g)].map((m) => m[1]);
    const published: string[] = [];
    for (const workspace of await workspaces()) {
      const manifest = z
        .object({ private: z.boolean().optional() })
        .parse(JSON.parse(await readRepoFile(workspace, 'package.json')));
      if (manifest.private !== true) published.push(workspace);
    }
    expect(packed.sort()).toEqual(published.sort());
    expect(runs.find((r) => r.includes('npm install'))).toMatch(/--omit=dev/);
    // The runtime stage only copies the installed layout: no npm, no sources, no tarballs.
    expect(runtime.instructions.filter((i) => i.keyword === 'RUN')).toEqual([]);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY');
    expect(copies.map((c) => c.flags['from'])).toEqual(['build']);
  });

  it('runs as a numeric non-root user, the one the Kubernetes manifests name', async () => {
    const user = lastOf(runtime, 'USER')?.text ?? '';
    expect(user).toMatch(/^[1-9]\d*(?::\d+)?$/);
    const uid = Number(user.split(':')[0]);
    for (const deployment of await deployments()) {
      expect(deployment.spec.template.spec.securityContext.runAsUser).toBe(uid);
    }
  });

  it("starts the CLI's bridge, serves on the default port to the network, and checks /healthz there", async () => {
    const cli = z
      .object({ bin: z.record(z.string(), z.string()) })
      .parse(JSON.parse(await readRepoFile('apps/cli/package.json')));
    expect(Object.keys(cli.bin)).toEqual([IMAGE_COMMAND]);
    expect(lastOf(runtime, 'ENTRYPOINT')?.exec).toEqual([IMAGE_COMMAND]);
    expect(lastOf(runtime, 'CMD')?.exec).toEqual(['bridge']);
    expectCliAccepts(lastOf(runtime, 'CMD')?.exec ?? [], 'Dockerfile CMD');
    expect(lastOf(runtime, 'EXPOSE')?.text).toBe(String(PORT));

    const env = runtimeEnv(dockerfile);
    expect(env['PSC_HTTP_HOST']).toBe('0.0.0.0');
    expect(env['PATH']?.split(':')[0]).toMatch(/\/node_modules\/\.bin$/);

    const healthcheck = lastOf(runtime, 'HEALTHCHECK');
    const [node, flag, script = ''] = healthcheck?.exec ?? [];
    expect([node, flag]).toEqual(['node', '-e']);
    expect(script).toContain(`http://127.0.0.1:`);
    expect(script).toContain(`|| ${PORT})`);
    expect(script).toContain(`'${ENDPOINTS.health}'`);
    expect(healthcheck?.flags).toMatchObject({ interval: expect.any(String) as unknown });
  });
});

// ---- docker-compose.yml ----

const dependency = z.strictObject({
  condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']),
});
const composeService = z.object({
  image: z.string(),
  build: z.string().optional(),
  profiles: z.array(z.string()).optional(),
  command: z.union([z.array(z.string()), z.string()]).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.string()).optional(),
  healthcheck: z
    .object({ disable: z.boolean().optional(), test: z.array(z.string()).optional() })
    .optional(),
  depends_on: z.record(z.string(), dependency).optional(),
  restart: z.string().optional(),
});
type ComposeService = z.infer<typeof composeService>;
const composeFile = z.object({ services: z.record(z.string(), composeService) });

async function composeServices(): Promise<Map<string, ComposeService>> {
  const [doc] = await readYamlDocuments('docker-compose.yml');
  return new Map(Object.entries(composeFile.parse(doc).services));
}

/** The CLI arguments a compose service of our image runs (its command, else the image's CMD). */
function argsOf(service: ComposeService, dockerfile: Dockerfile): readonly string[] {
  if (typeof service.command === 'string') throw new Error('use the list form of command');
  return service.command ?? lastOf(dockerfile.stages.at(-1) as Stage, 'CMD')?.exec ?? [];
}

describe('docker-compose.yml', () => {
  let services: Map<string, ComposeService>;
  let dockerfile: Dockerfile;
  const ours = () => [...services].filter(([, s]) => s.image.startsWith(`${IMAGE_COMMAND}:`));
  beforeAll(async () => {
    services = await composeServices();
    dockerfile = await readDockerfile();
  });

  it('still starts only Postgres and Redis by default, on the ports the tests use', () => {
    const byDefault = [...services].filter(([, s]) => s.profiles === undefined);
    expect(byDefault.map(([name]) => name)).toEqual(['postgres', 'redis']);
    const urls = serviceUrls();
    expect(services.get('postgres')?.ports).toEqual([
      `127.0.0.1:${new URL(urls.databaseUrl).port}:5432`,
    ]);
    expect(services.get('redis')?.ports).toEqual([`127.0.0.1:${new URL(urls.redisUrl).port}:6379`]);
  });

  it('runs the whole system in the "system" profile: two bridges, a worker, an app, the install', () => {
    const system = ours().filter(([, s]) => s.profiles?.includes('system') === true);
    const commands = system.map(([, s]) => argsOf(s, dockerfile).join(' '));
    expect(commands.filter((c) => c === 'bridge')).toHaveLength(2);
    expect(commands.filter((c) => c === 'worker')).toHaveLength(1);
    expect(commands.filter((c) => /^watch --mode snapshot --table \S+$/.test(c))).toHaveLength(1);
    expect(commands.filter((c) => c.startsWith('install --table '))).toHaveLength(1);
    // The bridges leave reload jobs to the worker; Bull Board needs its password from outside
    // the container (the port mapping is not a loopback connection).
    for (const [name, service] of system.filter(([, s]) => argsOf(s, dockerfile)[0] === 'bridge')) {
      expect(service.environment, name).toMatchObject({
        PSC_WORKER: '0',
        PSC_BOARD_PASSWORD: expect.any(String) as unknown,
      });
      expect(service.ports?.[0], name).toMatch(new RegExp(`:${PORT}$`));
    }
  });

  it('binds every published port to 127.0.0.1', () => {
    for (const [name, service] of services) {
      for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it("runs our image's subcommands with flags the CLI has, built from this Dockerfile", async () => {
    expect(ours().length).toBeGreaterThanOrEqual(5);
    for (const [name, service] of ours()) {
      expect(service.build, name).toBe('.');
      await expect(readFile(fromRoot(service.build ?? '', 'Dockerfile'))).resolves.toBeTruthy();
      expectCliAccepts(argsOf(service, dockerfile), `compose service ${name}`);
    }
  });

  it('waits only on services that exist and can reach the awaited state', () => {
    for (const [name, service] of services) {
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        const awaited = services.get(target);
        expect(awaited, `${name} depends on unknown ${target}`).toBeDefined();
        if (awaited === undefined) continue;
        const ourImage = awaited.image.startsWith(`${IMAGE_COMMAND}:`);
        if (condition === 'service_healthy') {
          // Ours have the image's HEALTHCHECK unless disabled; other images need one here.
          const checked = ourImage
            ? awaited.healthcheck?.disable !== true
            : awaited.healthcheck?.test !== undefined;
          expect(checked, `${name} waits for ${target} to be healthy`).toBe(true);
        }
        if (condition === 'service_completed_successfully') {
          expect(awaited.restart, `${target} must be a one-shot`).toBeUndefined();
        }
      }
    }
  });

  it("disables the image's health check where nothing serves HTTP", () => {
    for (const [name, service] of ours()) {
      const serves = ['bridge', 'worker'].includes(argsOf(service, dockerfile)[0] ?? '');
      expect(service.healthcheck?.disable === true, name).toBe(!serves);
    }
  });
});

// ---- Kubernetes ----

const labels = z.record(z.string(), z.string());
const probe = z.object({
  httpGet: z.object({ path: z.string(), port: z.union([z.number(), z.string()]) }),
});
const container = z.object({
  name: z.string(),
  image: z.string(),
  args: z.array(z.string()).min(1),
  ports: z.array(z.object({ name: z.string(), containerPort: z.number() })).min(1),
  envFrom: z.array(
    z.object({
      configMapRef: z.object({ name: z.string() }).optional(),
      secretRef: z.object({ name: z.string() }).optional(),
    }),
  ),
  env: z.array(z.object({ name: z.string() })).optional(),
  readinessProbe: probe,
  livenessProbe: probe,
  startupProbe: probe.optional(),
  resources: z.object({
    requests: z.object({ cpu: z.string(), memory: z.string() }),
    limits: z.object({ memory: z.string() }),
  }),
  securityContext: z.object({
    allowPrivilegeEscalation: z.literal(false),
    readOnlyRootFilesystem: z.literal(true),
    capabilities: z.object({ drop: z.array(z.string()).refine((d) => d.includes('ALL')) }),
  }),
});
const deploymentShape = z.object({
  kind: z.literal('Deployment'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    replicas: z.number(),
    selector: z.object({ matchLabels: labels }),
    template: z.object({
      metadata: z.object({
        labels,
        annotations: z.object({
          'prometheus.io/scrape': z.literal('true'),
          'prometheus.io/port': z.string(),
          'prometheus.io/path': z.string(),
        }),
      }),
      spec: z.object({
        automountServiceAccountToken: z.literal(false),
        securityContext: z.object({ runAsNonRoot: z.literal(true), runAsUser: z.number() }),
        containers: z.array(container).length(1),
      }),
    }),
  }),
});
type DeploymentShape = z.infer<typeof deploymentShape>;
const pdbShape = z.object({
  kind: z.literal('PodDisruptionBudget'),
  spec: z.object({ minAvailable: z.number(), selector: z.object({ matchLabels: labels }) }),
});
const configShape = z.object({
  kind: z.enum(['ConfigMap', 'Secret']),
  metadata: z.object({ name: z.string() }),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

/** The official schema of each kind we ship: validate() throws with the path of what is wrong. */
const OFFICIAL: Readonly<Record<string, (doc: unknown) => void>> = {
  'apps/v1 Deployment': (doc) => new Deployment(doc as IDeployment).validate(),
  'policy/v1 PodDisruptionBudget': (doc) =>
    new PodDisruptionBudget(doc as IPodDisruptionBudget).validate(),
  'v1 ConfigMap': (doc) => new ConfigMap(doc as IConfigMap).validate(),
  'v1 Secret': (doc) => new Secret(doc as ISecret).validate(),
};
const typeMeta = z.object({ apiVersion: z.string(), kind: z.string() });

/** Every Kubernetes object in deploy/k8s (not the kustomization), with the file it is in. */
async function k8sObjects(): Promise<{ file: string; doc: unknown; kind: string }[]> {
  const objects = [];
  for (const file of await filesIn(K8S)) {
    if (file.endsWith('kustomization.yaml')) continue;
    for (const doc of await readYamlDocuments(file)) {
      objects.push({ file, doc, kind: typeMeta.parse(doc).kind });
    }
  }
  return objects;
}

async function deployments(): Promise<DeploymentShape[]> {
  return (await k8sObjects())
    .filter((o) => o.kind === 'Deployment')
    .map((o) => deploymentShape.parse(o.doc));
}

describe('deploy/k8s', () => {
  it('holds only YAML files, each object valid against the official schema of its kind', async () => {
    const files = await readdir(fromRoot(K8S));
    expect(files.filter((f) => !f.endsWith('.yaml'))).toEqual([]);
    const objects = await k8sObjects();
    expect(objects.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Secret'].sort(),
    );
    for (const { file, doc } of objects) {
      const { apiVersion, kind } = typeMeta.parse(doc);
      const validate = OFFICIAL[`${apiVersion} ${kind}`];
      expect(validate, `${file}: no schema for ${apiVersion} ${kind}`).toBeDefined();
      expect(() => validate?.(doc), file).not.toThrow();
    }
  });

  it('lists in the kustomization only files that exist, and never the Secret template', async () => {
    const [doc] = await readYamlDocuments(K8S, 'kustomization.yaml');
    const { resources } = z.object({ resources: z.array(z.string()) }).parse(doc);
    const files = await readdir(fromRoot(K8S));
    for (const resource of resources) expect(files).toContain(resource);
    expect(resources).toContain('bridge-deployment.yaml');
    expect(resources).toContain('bridge-pdb.yaml');
    expect(resources).not.toContain('secret.yaml');
  });

  it('probes, exposes and scrapes the bridge at its default port and real paths', async () => {
    for (const deployment of await deployments()) {
      const { name } = deployment.metadata;
      const pod = deployment.spec.template;
      const [c] = pod.spec.containers;
      if (c === undefined) continue;
      expectCliAccepts(c.args, `${name} args`);
      const http = c.ports.find((p) => p.name === 'http');
      expect(http?.containerPort, name).toBe(PORT);
      const portOf = (p: string | number) => (p === 'http' ? http?.containerPort : p);
      expect(c.readinessProbe.httpGet.path, name).toBe(ENDPOINTS.ready);
      expect(portOf(c.readinessProbe.httpGet.port), name).toBe(PORT);
      expect(c.livenessProbe.httpGet.path, name).toBe(ENDPOINTS.health);
      expect(portOf(c.livenessProbe.httpGet.port), name).toBe(PORT);
      if (c.startupProbe !== undefined) expect(portOf(c.startupProbe.httpGet.port)).toBe(PORT);
      expect(pod.metadata.annotations['prometheus.io/port'], name).toBe(String(PORT));
      expect(pod.metadata.annotations['prometheus.io/path'], name).toBe(ENDPOINTS.metrics);
      // The selector picks this template's pods.
      expect(pod.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    }
  });

  it('runs two bridges, and the disruption budget keeps one of them', async () => {
    const bridge = (await deployments()).find(
      (d) => d.spec.template.spec.containers[0]?.args[0] === 'bridge',
    );
    expect(bridge?.spec.replicas).toBe(2);
    const pdbs = (await k8sObjects()).filter((o) => o.kind === 'PodDisruptionBudget');
    expect(pdbs).toHaveLength(1);
    const pdb = pdbShape.parse(pdbs[0]?.doc);
    expect(pdb.spec.minAvailable).toBe(1);
    expect(bridge?.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    // …and only them: the workers' pods are not bridges.
    for (const other of (await deployments()).filter(
      (d) => d.metadata.name !== bridge?.metadata.name,
    )) {
      expect(other.spec.template.metadata.labels).not.toMatchObject(pdb.spec.selector.matchLabels);
    }
  });

  it('takes settings from a ConfigMap and Secrets that exist, with the variables the bridge reads', async () => {
    const objects = await k8sObjects();
    const configs = objects.filter(
      (o) => o.kind !== 'Deployment' && o.kind !== 'PodDisruptionBudget',
    );
    const byName = new Map(
      configs.map((o) => [configShape.parse(o.doc).metadata.name, configShape.parse(o.doc)]),
    );
    for (const deployment of await deployments()) {
      const [c] = deployment.spec.template.spec.containers;
      for (const source of c?.envFrom ?? []) {
        const ref = source.configMapRef ?? source.secretRef;
        const found = byName.get(ref?.name ?? '');
        expect(found?.kind, `${deployment.metadata.name}: ${ref?.name}`).toBe(
          source.configMapRef === undefined ? 'Secret' : 'ConfigMap',
        );
      }
      for (const variable of c?.env ?? []) expect(SETTING_VARIABLES).toContain(variable.name);
    }
    for (const [name, config] of byName) {
      for (const key of Object.keys({ ...config.data, ...config.stringData })) {
        expect(SETTING_VARIABLES, `${name}: ${key}`).toContain(key);
      }
    }
    const bridgeSecret = byName.get('pg-static-cache-bridge');
    expect(Object.keys(bridgeSecret?.stringData ?? {}).sort()).toEqual(
      ['DATABASE_URL', 'PSC_BOARD_PASSWORD', 'PSC_SIGNING_KEY', 'REDIS_URL'].sort(),
    );
    const config = byName.get('pg-static-cache-config')?.data ?? {};
    expect(config['PSC_HTTP_PORT'] ?? String(PORT)).toBe(String(PORT));
    // Probes and scrapes come from the pod's IP, not from loopback.
    const host = config['PSC_HTTP_HOST'] ?? runtimeEnv(await readDockerfile())['PSC_HTTP_HOST'];
    expect(host).toBe('0.0.0.0');
  });
});

// ---- systemd ----

describe('deploy/systemd', () => {
  it('restarts the bridge always, from an environment file, as an unprivileged sandboxed user', async () => {
    const unit = parseUnitFile(await readRepoFile('deploy/systemd/pg-static-cache-bridge.service'));
    const service = unit.get('Service');
    const one = (key: string) => service?.get(key)?.at(-1);
    expect(one('ExecStart')).toMatch(/^\/\S+\/pg-static-cache bridge$/);
    expectCliAccepts(one('ExecStart')?.split(' ').slice(1) ?? [], 'ExecStart');
    expect(one('EnvironmentFile')).toMatch(/^\/etc\//);
    expect({
      Restart: one('Restart'),
      NoNewPrivileges: one('NoNewPrivileges'),
      ProtectSystem: one('ProtectSystem'),
      DynamicUser: one('DynamicUser'),
      CapabilityBoundingSet: one('CapabilityBoundingSet'),
    }).toEqual({
      Restart: 'always',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      DynamicUser: 'yes',
      CapabilityBoundingSet: '',
    });
    // V8 writes machine code: this option would kill node at start.
    expect(service?.has('MemoryDenyWriteExecute')).toBe(false);
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('offers an environment file of variables the bridge reads', async () => {
    const text = await readRepoFile('deploy/systemd/bridge.env.example');
    const keys = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');
    expect(keys).toContain('DATABASE_URL');
    for (const key of keys) expect(SETTING_VARIABLES).toContain(key);
  });
});

// ---- All of them ----

it('names only PSC_* variables the bridge reads, in every deployment file and its docs', async () => {
  const files = [
    'Dockerfile',
    'docker-compose.yml',
    'docs/deployment.md',
    ...(await filesIn(K8S)),
    ...(await filesIn('deploy/systemd')),
  ];
  let seen = 0;
  for (const file of files) {
    for (const name of pscVariablesIn(await readRepoFile(file))) {
      seen += 1;
      expect(SETTING_VARIABLES, `${file}: ${name}`).toContain(name);
    }
  }
  expect(seen).toBeGreaterThan(10);
  // Compose's variables for our image too (URLs included), not only the PSC_ ones.
  for (const [name, service] of await composeServices()) {
    if (!service.image.startsWith(`${IMAGE_COMMAND}:`)) continue;
    for (const key of Object.keys(service.environment ?? {})) {
      expect(SETTING_VARIABLES, `compose ${name}: ${key}`).toContain(key);
    }
  }
});

/** The workspace folders of the root package.json (globs `dir/*` expanded). */
async function workspaces(): Promise<string[]> {
  const root = z
    .object({ workspaces: z.array(z.string()) })
    .parse(JSON.parse(await readRepoFile('package.json')));
  const folders: string[] = [];
  for (const pattern of root.workspaces) {
    if (!pattern.endsWith('/*')) {
      folders.push(pattern);
      continue;
    }
    const parent = pattern.slice(0, -2);
    const entries = await readdir(fromRoot(parent), { withFileTypes: true });
    for (const entry of entries.filter((e) => e.isDirectory())) {
      const folder = join(parent, entry.name);
      const hasManifest = await readFile(fromRoot(folder, 'package.json')).then(
        () => true,
        () => false,
      );
      if (hasManifest) folders.push(folder);
    }
  }
  return folders;
}
