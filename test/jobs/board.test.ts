// Bull Board on the bridge's HTTP server at /queues: the page and its API answer, and with a
// password set, only to basic auth with the right user and password.
import { describe, expect, it } from 'vitest';
import { createJobsWorld } from '../support/jobs-kit.ts';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('Bull Board', () => {
  it('serves the reload queue at /queues, behind basic auth when a password is set', async () => {
    await using w = await createJobsWorld('psc_board');
    const open = await w.startBridge({ worker: false });
    const guarded = await w.startBridge({ worker: false, boardPassword: 's3cret' });

    const page = await fetch(`http://127.0.0.1:${open.httpPort}/queues/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<!DOCTYPE html>/i);
    // Assets resolve under the mount path (setBasePath matches app.use).
    expect(html).toContain('<base href="/queues/"');
    const script = /src="(static\/js\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`http://127.0.0.1:${open.httpPort}/queues/${script ?? ''}`);
    expect(asset.status).toBe(200);
    await asset.arrayBuffer();
    const api = await fetch(`http://127.0.0.1:${open.httpPort}/queues/api/queues`);
    expect(api.status).toBe(200);
    expect(JSON.stringify(await api.json())).toContain(w.names.queue);

    const url = `http://127.0.0.1:${guarded.httpPort}/queues/`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    for (const wrong of [
      basic('admin', 'guess'),
      basic('root', 's3cret'),
      'Basic !!!',
      'Bearer x',
    ]) {
      expect((await fetch(url, { headers: { authorization: wrong } })).status).toBe(401);
    }
    const authorized = await fetch(url, { headers: { authorization: basic('admin', 's3cret') } });
    expect(authorized.status).toBe(200);
    expect(await authorized.text()).toMatch(/<!DOCTYPE html>/i);
    // Health and metrics stay open (probes and scrapers carry no credentials).
    expect((await fetch(`http://127.0.0.1:${guarded.httpPort}/healthz`)).status).toBe(200);
  });
});
