// End to end with the official MCP client: @modelcontextprotocol/sdk's Client + StdioClientTransport
// spawn the real `tunnelmgr mcp` (real plugins, a real SQLite file, the Cloudflare API fake over
// loopback HTTP, a real cloudflared config file), and @modelcontextprotocol/inspector-cli runs
// tools/list and tools/call against it. Identity comes from TUNNELMGR_TOKEN only.
//
// Run: TM_BUILD_DIR=/path/to/build npm test   (needs tunnelmgr, plugins/, cloudflare-api-fake built)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = path.resolve(process.env.TM_BUILD_DIR ?? path.join(here, '../../../build'));
const tunnelmgr = path.join(build, 'tunnelmgr');
const pluginDir = path.join(build, 'plugins');
const fakeBin = process.env.TM_CLOUDFLARE_FAKE ?? findFake();
const inspectorCli = path.join(here, 'node_modules/@modelcontextprotocol/inspector-cli/build/index.js');
// 1.0.3's cli.js is only a deprecation notice that starts another package; index.js is the CLI itself.

// Obviously fake tokens; the config only holds their SHA-256.
const tokens = {
  alpha: 'fake-token-for-tests-alpha-7d1e',
  beta: 'fake-token-for-tests-beta-52ac',
  admin: 'fake-token-for-tests-admin-c09f',
  cloudflare: 'fake-token-for-tests-cloudflare-3b8e',
};
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const tunnelId = '6ff42ae2-765d-4adf-8112-31c55c1551ef';

let dir;
let fake;
let configPath;

function findFake() {
  for (const p of ['tests/support/cloudflare-fake/cloudflare-api-fake', 'cloudflare-api-fake', 'bin/cloudflare-api-fake']) {
    const full = path.join(build, p);
    if (existsSync(full)) return full;
  }
  return path.join(build, 'tests/support/cloudflare-fake/cloudflare-api-fake');
}

async function waitForFile(file, ms = 20000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${file} did not appear`);
}

before(async () => {
  for (const f of [tunnelmgr, fakeBin, path.join(pluginDir, 'mcp-stdio.so')]) {
    assert.ok(existsSync(f), `${f} is missing: build tunnelmgr, the plugins and cloudflare-api-fake first (TM_BUILD_DIR=${build})`);
  }
  dir = mkdtempSync(path.join(tmpdir(), 'tm-mcp-e2e-'));
  const portFile = path.join(dir, 'fake.port');
  fake = spawn(fakeBin, ['--listen', '127.0.0.1:0', '--port-file', portFile, '--token', tokens.cloudflare,
    '--zone', 'example.com', '--zone', 'example.org', '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const port = await waitForFile(portFile);
  writeFileSync(path.join(dir, 'cf-token'), tokens.cloudflare + '\n');
  writeFileSync(path.join(dir, 'cloudflared.yml'),
    `tunnel: ${tunnelId}\ncredentials-file: /etc/cloudflared/${tunnelId}.json\ningress:\n  - service: http_status:404\n`);
  configPath = path.join(dir, 'config.yml');
  writeFileSync(configPath, [
    `state: { plugin: sqlite-state, path: ${path.join(dir, 'state.db')} }`,
    'dns:',
    '  plugin: cloudflare-dns',
    `  api_base: http://127.0.0.1:${port}/client/v4`,
    `  api_token_file: ${path.join(dir, 'cf-token')}`,
    '  account_id: 0123456789abcdef0123456789abcdef',
    `tunnel: { id: ${tunnelId}, default_domain: example.com, ingress: local, config_file: ${path.join(dir, 'cloudflared.yml')}, backup_dir: ${path.join(dir, 'history')} }`,
    'projects:',
    `  alpha: { ports: "3100-3199", token_sha256: ${sha256(tokens.alpha)} }`,
    `  beta: { ports: "4100-4199", token_sha256: ${sha256(tokens.beta)} }`,
    `admin: { token_sha256: ${sha256(tokens.admin)} }`,
    'transport: { plugin: mcp-stdio }',
    `plugin_dir: ${pluginDir}`,
    '',
  ].join('\n'));
});

after(() => {
  if (fake) fake.kill('SIGTERM');
  if (dir && !process.exitCode) rmSync(dir, { recursive: true, force: true });
});

function sessionArgs(who) {
  return ['--config', configPath, '--log-level', 'info', 'mcp', ...(who === 'admin' ? ['--admin'] : ['--project', who])];
}

async function connect(who) {
  const transport = new StdioClientTransport({
    command: tunnelmgr,
    args: sessionArgs(who),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TUNNELMGR_TOKEN: tokens[who] },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'tunnelmgr-e2e', version: '1.0.0' });
  await client.connect(transport);
  client.stderrText = () => stderr;
  return client;
}

const call = (client, name, args = {}, options) => client.callTool({ name, arguments: args }, undefined, options);

function run(argv, env, input = '') {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(input);
  });
}

test('no valid token: refuses to start, says why, and writes nothing on stdout', async () => {
  const base = { PATH: process.env.PATH };
  for (const env of [base, { ...base, TUNNELMGR_TOKEN: tokens.beta }, { ...base, TUNNELMGR_TOKEN: 'wrong' }]) {
    const r = await run([tunnelmgr, ...sessionArgs('alpha')], env);
    assert.notEqual(r.code, 0);
    assert.equal(r.out, '');
    assert.match(r.err, /refusing to start/);
    assert.ok(!r.err.includes(tokens.beta), 'the token never appears in logs');
  }
});

test('project session: a name with a ttl and origin settings, moved to another port, and what is refused', async () => {
  const alpha = await connect('alpha');
  const beta = await connect('beta');
  const cloudflaredYml = path.join(dir, 'cloudflared.yml');
  try {
    const before = Date.now();
    const created = await call(alpha, 'tunnel_request_cname', {
      subdomain: 'blue', port: 3101, ttl: '2h',
      originRequest: { connectTimeout: '10s', httpHostHeader: 'blue.internal' },
    }, { timeout: 120000 });
    assert.equal(created.isError, false, JSON.stringify(created));
    const sc = created.structuredContent;
    assert.ok(sc.expires_at >= before + 2 * 3600e3 && sc.expires_at <= Date.now() + 2 * 3600e3, JSON.stringify(sc));
    assert.deepEqual(sc.origin_request, { connectTimeout: 10, httpHostHeader: 'blue.internal' });
    assert.match(readFileSync(cloudflaredYml, 'utf8'),
      /- hostname: blue\.example\.com\n\s+service: http:\/\/localhost:3101\n\s+originRequest:\n\s+connectTimeout: 10s\n\s+httpHostHeader: "blue\.internal"\n/);

    const listed = await call(alpha, 'tunnel_list_cnames');
    const row = listed.structuredContent.cnames.find((c) => c.hostname === 'blue.example.com');
    assert.equal(row.expires_at, sc.expires_at);
    assert.deepEqual(row.origin_request, sc.origin_request);

    // Blue → green: another port of the project, no DNS change, the origin settings kept.
    const moved = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', port: 3102 }, { timeout: 120000 });
    assert.equal(moved.isError, false, JSON.stringify(moved));
    assert.equal(moved.structuredContent.changed, true);
    assert.equal(moved.structuredContent.previous_target, 'http://localhost:3101');
    assert.equal(moved.structuredContent.ingress_target, 'http://localhost:3102');
    const yml = readFileSync(cloudflaredYml, 'utf8');
    assert.match(yml, /- hostname: blue\.example\.com\n\s+service: http:\/\/localhost:3102\n\s+originRequest:\n\s+connectTimeout: 10s\n/);
    assert.ok(!yml.includes('localhost:3101'), yml);
    const after = (await call(alpha, 'tunnel_list_cnames')).structuredContent.cnames.find((c) => c.hostname === 'blue.example.com');
    assert.equal(after.port, 3102);
    assert.equal(after.dns_record_id, sc.dns_record_id, 'the DNS record is the same one');
    assert.equal(after.expires_at, sc.expires_at, 'the expiry stays');
    assert.equal(after.id, row.id);

    // Settings alone: {} removes them.
    const cleared = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', originRequest: {} }, { timeout: 120000 });
    assert.equal(cleared.isError, false, JSON.stringify(cleared));
    assert.equal(cleared.structuredContent.origin_request, null);
    assert.ok(!readFileSync(cloudflaredYml, 'utf8').includes('originRequest'));

    // What is refused, with nothing changed.
    const other = await call(beta, 'tunnel_update_cname', { hostname: 'blue.example.com', port: 4101 });
    assert.equal(other.isError, true);
    assert.equal(other.structuredContent.code, 'not_found');
    const url = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', target: 'http://10.0.0.5:80' });
    assert.equal(url.structuredContent.code, 'denied');
    assert.match(url.structuredContent.error, /only the admin may point a name at a target URL/);
    const notMine = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', port: 4101 });
    assert.equal(notMine.structuredContent.code, 'denied');
    const badDuration = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', originRequest: { connectTimeout: 'ten' } });
    assert.equal(badDuration.isError, true);
    assert.match(badDuration.structuredContent.error, /connectTimeout.*not a duration cloudflared can read/);
    const unknownKey = await call(alpha, 'tunnel_update_cname', { hostname: 'blue.example.com', originRequest: { tlsTimeout: '5s' } });
    assert.equal(unknownKey.isError, true);
    assert.match(unknownKey.structuredContent.error, /tlsTimeout/);
    const shortTtl = await call(alpha, 'tunnel_request_cname', { subdomain: 'brief', port: 3103, ttl: '30s' });
    assert.equal(shortTtl.isError, true);
    assert.match(shortTtl.structuredContent.error, /out of range: give from 1m to 365d/);
    assert.ok(readFileSync(cloudflaredYml, 'utf8').includes('localhost:3102'));
    assert.ok(!readFileSync(cloudflaredYml, 'utf8').includes('brief'));

    const gone = await call(alpha, 'tunnel_delete_cname', { hostname: 'blue.example.com' }, { timeout: 120000 });
    assert.equal(gone.isError, false, JSON.stringify(gone));
  } finally {
    await alpha.close();
    await beta.close();
  }
});

test('project session: list tools, check, create with progress, list, delete', async () => {
  const client = await connect('alpha');
  try {
    assert.equal(client.getServerVersion()?.name, 'tunnelmgr');
    const { tools } = await client.listTools();
    assert.equal(tools.length, 12);
    for (const t of tools) {
      assert.ok(t.inputSchema && t.outputSchema && t.annotations, t.name);
    }
    await client.ping();

    const check = await call(client, 'tunnel_check_target', { subdomain: 'app', port: 3100 });
    assert.equal(check.isError, false, JSON.stringify(check));
    assert.equal(check.structuredContent.hostname, 'app.example.com');

    const progress = [];
    const created = await call(client, 'tunnel_request_cname', { subdomain: 'app', port: 3100 },
      { onprogress: (p) => progress.push(p), timeout: 120000 });
    assert.equal(created.isError, false, JSON.stringify(created));
    assert.equal(created.structuredContent.url, 'https://app.example.com');
    assert.deepEqual(JSON.parse(created.content[0].text), created.structuredContent);
    assert.ok(progress.length >= 1, 'progress notifications for the pipeline steps');
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress);

    const listed = await call(client, 'tunnel_list_cnames');
    assert.deepEqual(listed.structuredContent.cnames.map((c) => c.hostname), ['app.example.com']);

    const status = await client.readResource({ uri: 'tunnel://status' });
    assert.ok(JSON.parse(status.contents[0].text).tunnel);

    const bad = await call(client, 'tunnel_request_cname', { subdomain: 'x', port: '3100' });
    assert.equal(bad.isError, true);
    assert.match(bad.structuredContent.error, /port must be an integer/);

    const deleted = await call(client, 'tunnel_delete_cname', { hostname: 'app.example.com' }, { timeout: 120000 });
    assert.equal(deleted.isError, false, JSON.stringify(deleted));
    const after = await call(client, 'tunnel_list_cnames');
    assert.equal(after.structuredContent.cnames.length, 0);
  } finally {
    await client.close();
  }
});

test('list pages by after: they join to the whole list, also when names are added between pages', async () => {
  const admin = await connect('admin');  // publishes for alpha: the admin has no rate limit
  const alpha = await connect('alpha');
  const made = [];
  const publish = async (sub, port) => {
    const r = await call(admin, 'tunnel_request_cname', { subdomain: sub, port, projectName: 'alpha' }, { timeout: 120000 });
    assert.equal(r.isError, false, JSON.stringify(r));
    made.push(`${sub}.example.com`);
  };
  const ours = (names) => names.filter((h) => h.startsWith('pg-'));
  // Every page from the first, each asked with the next_after of the one before; between(n) runs after page n.
  const walk = async (between = async () => {}) => {
    const seen = [];
    let args = { limit: 3 };
    for (let n = 0; n < 50; n++) {
      const page = await call(alpha, 'tunnel_list_cnames', args);
      assert.equal(page.isError, false, JSON.stringify(page));
      const sc = page.structuredContent;
      assert.deepEqual(JSON.parse(page.content[0].text), sc);
      assert.equal(sc.count, sc.cnames.length);
      seen.push(...sc.cnames.map((c) => c.hostname));
      if (sc.next_after === null) return seen;
      assert.equal(sc.cnames.length, 3, 'only the last page is short');
      assert.equal(sc.next_after, sc.cnames.at(-1).hostname);
      if (args.after !== undefined) assert.equal(sc.next_offset, null, 'a keyset page knows no offset');
      await between(n);
      args = { limit: 3, after: sc.next_after };
    }
    assert.fail(`the pages never ended: ${seen}`);
  };
  try {
    for (const [i, sub] of ['pg-b', 'pg-d', 'pg-f', 'pg-h', 'pg-j', 'pg-l', 'pg-n'].entries()) await publish(sub, 3110 + i);
    const whole = [...made].sort();
    assert.deepEqual(ours(await walk()), whole);

    // After the first page (b d f): a name behind the walk's position and one ahead of it. Every name that was
    // there throughout comes once (an offset walk would show pg-f twice) and the one ahead too.
    const during = ours(await walk(async (n) => {
      if (n === 0) {
        await publish('pg-a', 3120);
        await publish('pg-g', 3121);
      }
    }));
    assert.equal(new Set(during).size, during.length, `a name twice: ${during}`);
    assert.deepEqual(during, [...whole, 'pg-g.example.com'].sort());
    assert.deepEqual(ours(await walk()), [...made].sort(), 'the next walk sees both');

    const both = await call(alpha, 'tunnel_list_cnames', { after: 'pg-b.example.com', offset: 0 });
    assert.equal(both.isError, true);
    assert.equal(both.structuredContent.code, 'invalid');
    assert.match(both.structuredContent.error, /give `after` or `offset`, not both/);
  } finally {
    for (const h of made) await call(admin, 'tunnel_delete_cname', { hostname: h }, { timeout: 120000 });
    await Promise.all([alpha.close(), admin.close()]);
  }
});

test('two projects and the admin: nobody acts beyond their session', async () => {
  const alpha = await connect('alpha');
  const beta = await connect('beta');
  const admin = await connect('admin');
  try {
    const a = await call(alpha, 'tunnel_request_cname', { subdomain: 'alpha-web', port: 3101 }, { timeout: 120000 });
    assert.equal(a.isError, false, JSON.stringify(a));
    const b = await call(beta, 'tunnel_request_cname', { subdomain: 'beta-web', port: 4101 }, { timeout: 120000 });
    assert.equal(b.isError, false, JSON.stringify(b));

    // A project cannot publish another project's port, nor speak for another project.
    const port = await call(alpha, 'tunnel_request_cname', { subdomain: 'steal', port: 4102 });
    assert.equal(port.isError, true);
    assert.ok(port.structuredContent.recommendation);
    const named = await call(alpha, 'tunnel_request_cname', { subdomain: 'steal', port: 3102, projectName: 'beta' });
    assert.equal(named.isError, true);
    assert.equal(named.structuredContent.code, 'denied');
    const listOther = await call(alpha, 'tunnel_list_cnames', { projectName: 'beta' });
    assert.equal(listOther.isError, true);

    // Each project sees its own; beta cannot delete alpha's name.
    const mine = await call(alpha, 'tunnel_list_cnames');
    assert.deepEqual(mine.structuredContent.cnames.map((c) => c.hostname), ['alpha-web.example.com']);
    const steal = await call(beta, 'tunnel_delete_cname', { hostname: 'alpha-web.example.com' });
    assert.equal(steal.isError, true);

    // Admin-only tools.
    for (const tool of ['tunnel_restart', 'tunnel_refresh_domains', 'tunnel_reconcile']) {
      const r = await call(alpha, tool);
      assert.equal(r.isError, true, tool);
      assert.equal(r.structuredContent.code, 'denied', tool);
    }
    // Every one of those attempts left an audit row saying it was denied, under the project that tried.
    const tried = await call(admin, 'tunnel_audit_log', { projectName: 'alpha', limit: 1000 });
    assert.equal(tried.isError, false, JSON.stringify(tried));
    const denied = tried.structuredContent.entries.filter((e) => e.result === 'denied' && e.actor === 'project:alpha');
    for (const action of ['cname.create', 'cname.list', 'tunnel.restart', 'domains.refresh', 'reconcile.run']) {
      assert.ok(denied.some((e) => e.action === action), `no denied audit row for ${action}: ${JSON.stringify(denied)}`);
    }
    const stolen = await call(admin, 'tunnel_audit_log', { limit: 1000 });
    assert.ok(stolen.structuredContent.entries.some((e) => e.result === 'denied' && e.actor === 'project:beta' &&
      e.action === 'cname.delete' && e.target === 'alpha-web.example.com'), 'beta\'s attempt on alpha\'s name is audited');
    const refreshed = await call(admin, 'tunnel_refresh_domains');
    assert.equal(refreshed.isError, false, JSON.stringify(refreshed));
    assert.deepEqual(refreshed.structuredContent.domains.map((d) => d.name), ['example.com', 'example.org']);

    // The admin's reconcile: both names have their record and rule; the dry run lists no drift, and
    // a hand edit that drops beta's rule shows up as rule_missing for beta-web.
    const clean = await call(admin, 'tunnel_reconcile', { dryRun: true });
    assert.equal(clean.isError, false, JSON.stringify(clean));
    assert.deepEqual(clean.structuredContent.findings, [], JSON.stringify(clean.structuredContent));
    assert.equal(clean.structuredContent.dry_run, true);
    const ingressFile = path.join(dir, 'cloudflared.yml');
    const file = readFileSync(ingressFile, 'utf8');
    const edited = file.replace(/  - hostname: beta-web\.example\.com\n(    .*\n)*/, '');
    assert.notEqual(edited, file, 'the rule was in the file');
    writeFileSync(ingressFile, edited);
    const drift = await call(admin, 'tunnel_reconcile', { dryRun: true });
    assert.equal(drift.isError, false, JSON.stringify(drift));
    assert.deepEqual(drift.structuredContent.findings.map((f) => [f.class, f.hostname]),
      [['rule_missing', 'beta-web.example.com']], JSON.stringify(drift.structuredContent));
    writeFileSync(ingressFile, file);

    // The admin's topology resource (text, as `tunnelmgr topology` prints it): no runtime here, so no
    // Docker information, and both names with their targets; a project session is refused.
    const { resources } = await admin.listResources();
    assert.deepEqual(resources.map((r) => r.uri), ['tunnel://status', 'tunnel://topology']);
    const topology = await admin.readResource({ uri: 'tunnel://topology' });
    assert.equal(topology.contents[0].mimeType, 'text/plain');
    assert.match(topology.contents[0].text, /^tunnelmgr topology \(no Docker information\)/);
    for (const h of ['alpha-web.example.com', 'beta-web.example.com']) {
      assert.ok(topology.contents[0].text.includes(`  ${h}  `), `${h} in:\n${topology.contents[0].text}`);
    }
    await assert.rejects(alpha.readResource({ uri: 'tunnel://topology' }), /topology\.get is for the admin session only/);

    // The admin sees everything and may clean up anyone's names.
    const all = await call(admin, 'tunnel_list_cnames');
    assert.deepEqual(all.structuredContent.cnames.map((c) => c.hostname).sort(),
      ['alpha-web.example.com', 'beta-web.example.com']);
    const audit = await call(alpha, 'tunnel_audit_log', { limit: 50 });
    assert.equal(audit.isError, false);
    for (const e of audit.structuredContent.entries) assert.ok(!JSON.stringify(e).includes('beta-web'), 'own rows only');
    for (const h of ['alpha-web.example.com', 'beta-web.example.com']) {
      const r = await call(admin, 'tunnel_delete_cname', { hostname: h }, { timeout: 120000 });
      assert.equal(r.isError, false, JSON.stringify(r));
    }
  } finally {
    await Promise.all([alpha.close(), beta.close(), admin.close()]);
  }
});

test('inspector-cli: tools/list and tools/call', async () => {
  // The command is the target; its own options go after `--` so the CLI does not read them.
  const exec = promisify(execFile);
  const env = { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.alpha };
  // 1.0.3 looks for its package.json with fs.existsSync("../package.json"), relative to the working
  // directory, so it must run from its own build folder.
  const cwd = path.dirname(inspectorCli);
  const list = await exec(process.execPath, [inspectorCli, tunnelmgr, '--method', 'tools/list', '--', ...sessionArgs('alpha')],
    { env, cwd, timeout: 60000 });
  const names = JSON.parse(list.stdout).tools.map((t) => t.name);
  assert.ok(names.includes('tunnel_request_cname'));
  const called = await exec(process.execPath, [inspectorCli, tunnelmgr, '--method', 'tools/call', '--tool-name', 'tunnel_check_target',
    '--tool-arg', 'subdomain=docs', '--tool-arg', 'port=3105', '--', ...sessionArgs('alpha')], { env, cwd, timeout: 60000 });
  const result = JSON.parse(called.stdout);
  assert.equal(result.isError, false, called.stdout);
  assert.equal(result.structuredContent.hostname, 'docs.example.com');
});

test('raw stdio: garbage, a huge line, a batch and EOF mid-call leave stdout clean', async () => {
  const lines = [
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    '{"jsonrpc":"2.0","id":2,"method":',
    'x'.repeat(2 * 1024 * 1024),
    JSON.stringify([{ jsonrpc: '2.0', id: 3, method: 'ping' }]),
    JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'nope' }),
    JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'tunnel_get_status', arguments: { verbose: 1 } } }),
    JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'tunnel_get_status', arguments: {} } }),
  ];
  const r = await run([tunnelmgr, ...sessionArgs('alpha')], { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.alpha },
    lines.join('\n') + '\n');
  assert.equal(r.code, 0, r.err);
  const out = r.out.split('\n');
  assert.equal(out.pop(), '', 'stdout ends with a newline');
  const messages = out.map((l) => JSON.parse(l));  // every line is JSON: nothing else on stdout
  const byId = Object.fromEntries(messages.filter((m) => m.id !== null).map((m) => [m.id, m]));
  const codes = messages.filter((m) => m.id === null).map((m) => m.error.code).sort();
  assert.deepEqual(codes, [-32700, -32600, -32600].sort());
  assert.equal(byId[4].error.code, -32601);
  assert.equal(byId[5].result.isError, true);
  assert.equal(byId[6].result.isError, false);
});

test('figure: spawn to initialize answered, median of 10', async () => {
  const times = [];
  for (let i = 0; i < 10; i++) {
    const start = process.hrtime.bigint();
    const client = await connect('alpha');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    await client.close();
  }
  times.sort((a, b) => a - b);
  console.log(`# spawn -> initialize answered: median ${((times[4] + times[5]) / 2).toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[9].toFixed(1)})`);
});
