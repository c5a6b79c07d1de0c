// The daemon owns the machine: two real project users (made by this test) run their own MCP sessions —
// the official client spawning `tunnelmgr mcp` under their uids (setpriv) — which reach the daemon over
// its API socket. They cannot read the Cloudflare token or the state, still request, list and delete
// their own hostnames, never see the other's, and the audit shows each uid. A user outside the
// socket's group gets one sentence. Needs root (it creates users); skips with a line otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = path.resolve(process.env.TM_BUILD_DIR ?? path.join(here, '../../../build'));
// The users run a copy in a folder anyone may read: the build folder may sit under a private home.
let tunnelmgr = path.join(build, 'tunnelmgr');
let pluginDir = path.join(build, 'plugins');
const fakeBin = path.join(build, 'tests/support/cloudflare-fake/cloudflare-api-fake');
const tunnelId = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const tokens = {
  alpha: 'fake-token-for-tests-alpha-users-91c3',
  beta: 'fake-token-for-tests-beta-users-04d7',
  cloudflare: 'fake-token-for-tests-cloudflare-users-77aa',
};
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const suffix = randomBytes(3).toString('hex');
const group = `tmapi${suffix}`;
const users = { alpha: `tmua${suffix}`, beta: `tmub${suffix}`, outsider: `tmuo${suffix}` };
const ids = {};

const canRun = process.getuid?.() === 0 && ['useradd', 'groupadd', 'setpriv'].every(
  (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
const skip = canRun ? false : 'needs root, useradd, groupadd and setpriv (it creates two users)';

let dir;
let sockDir;
let socket;
let configPath;
let fake;
let daemon;
let daemonErr = '';
let copies;

function sh(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function waitFor(check, what, ms = 20000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} did not happen; daemon said: ${daemonErr}`);
}

// Runs argv as `user` (its uid, its group, its supplementary groups).
const asUser = (user, argv) => ['setpriv', '--reuid', String(ids[user].uid), '--regid', String(ids[user].gid),
  '--init-groups', '--', ...argv];

before(async () => {
  if (skip) return;
  sh(['groupadd', '--system', group]);
  for (const [name, user] of Object.entries(users)) {
    sh(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
      ...(name === 'outsider' ? [] : ['-G', group]), user]);
    ids[name] = { uid: Number(sh(['id', '-u', user])), gid: Number(sh(['id', '-g', user])) };
  }
  const binDir = mkdtempSync(path.join(tmpdir(), 'tm-users-bin-'));
  chmodSync(binDir, 0o755);
  mkdirSync(path.join(binDir, 'plugins'), { mode: 0o755 });
  copyFileSync(tunnelmgr, path.join(binDir, 'tunnelmgr'));
  chmodSync(path.join(binDir, 'tunnelmgr'), 0o755);
  for (const f of readdirSync(pluginDir).filter((n) => n.endsWith('.so'))) {
    copyFileSync(path.join(pluginDir, f), path.join(binDir, 'plugins', f));
    chmodSync(path.join(binDir, 'plugins', f), 0o755);
  }
  tunnelmgr = path.join(binDir, 'tunnelmgr');
  pluginDir = path.join(binDir, 'plugins');
  copies = binDir;
  dir = mkdtempSync(path.join(tmpdir(), 'tm-users-'));  // 0700: only root
  sockDir = mkdtempSync(path.join(tmpdir(), 'tm-users-sock-'));
  chmodSync(sockDir, 0o755);
  socket = path.join(sockDir, 'api.sock');
  const portFile = path.join(dir, 'fake.port');
  fake = spawn(fakeBin, ['--listen', '127.0.0.1:0', '--port-file', portFile, '--token', tokens.cloudflare,
    '--zone', 'example.com', '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(() => existsSync(portFile) && readFileSync(portFile, 'utf8').trim() !== '', 'the fake starting');
  const port = readFileSync(portFile, 'utf8').trim();
  writeFileSync(path.join(dir, 'cf-token'), tokens.cloudflare + '\n', { mode: 0o600 });
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
    `tunnel: { id: ${tunnelId}, default_domain: example.com, ingress: local, metrics: "127.0.0.1:1", config_file: ${path.join(dir, 'cloudflared.yml')}, backup_dir: ${path.join(dir, 'history')} }`,
    'projects:',
    `  alpha: { ports: "3100-3199", token_sha256: ${sha256(tokens.alpha)} }`,
    `  beta: { ports: "4100-4199", token_sha256: ${sha256(tokens.beta)} }`,
    `api: { socket: ${socket}, group: ${group} }`,
    'transport: { plugin: mcp-stdio }',
    `plugin_dir: ${pluginDir}`,
    '',
  ].join('\n'), { mode: 0o600 });
  daemon = spawn(tunnelmgr, ['--config', configPath, '--log-level', 'info', 'daemon'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  daemon.stderr.on('data', (d) => { daemonErr += d; });
  await waitFor(() => existsSync(socket), 'the API socket appearing');
});

after(() => {
  if (daemon) daemon.kill('SIGTERM');
  if (fake) fake.kill('SIGTERM');
  if (skip) return;
  for (const user of Object.values(users)) spawnSync('userdel', [user]);
  spawnSync('groupdel', [group]);
  if (dir && !process.exitCode) rmSync(dir, { recursive: true, force: true });
  if (sockDir) rmSync(sockDir, { recursive: true, force: true });
  if (copies) rmSync(copies, { recursive: true, force: true });
});

// The session's process runs as the user; the config is not readable to it, so it is told the socket.
async function connect(who) {
  const transport = new StdioClientTransport({
    command: 'setpriv',
    args: asUser(who, [tunnelmgr, '--config', configPath, '--plugin-dir', pluginDir, 'mcp', '--project', who]).slice(1),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TUNNELMGR_TOKEN: tokens[who], TUNNELMGR_API_SOCKET: socket },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: `tunnelmgr-users-${who}`, version: '1.0.0' });
  await client.connect(transport);
  client.pid = transport.pid;
  client.stderrText = () => stderr;
  return client;
}

const call = (client, name, args = {}) => client.callTool({ name, arguments: args }, undefined, { timeout: 120000 });

test('project users cannot read the Cloudflare token or the state', { skip }, () => {
  for (const who of ['alpha', 'beta']) {
    for (const f of ['cf-token', 'state.db', 'config.yml']) {
      const r = spawnSync(asUser(who, ['cat', path.join(dir, f)])[0], asUser(who, ['cat', path.join(dir, f)]).slice(1));
      assert.notEqual(r.status, 0, `${who} could read ${f}`);
    }
  }
});

test('two project users publish, list and delete their own names through the daemon, each under its uid', { skip }, async () => {
  const alpha = await connect('alpha');
  const beta = await connect('beta');
  try {
    // The session process runs as the project's user, and the token is gone from its environment block.
    const status = readFileSync(`/proc/${alpha.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${ids.alpha.uid}\\s`, 'm'));
    assert.ok(!readFileSync(`/proc/${alpha.pid}/environ`, 'latin1').includes(tokens.alpha), 'token wiped from environ');

    const a = await call(alpha, 'tunnel_request_cname', { subdomain: 'alpha-app', port: 3100 });
    assert.equal(a.isError, false, JSON.stringify(a) + alpha.stderrText() + daemonErr);
    const b = await call(beta, 'tunnel_request_cname', { subdomain: 'beta-app', port: 4100 });
    assert.equal(b.isError, false, JSON.stringify(b));

    const mine = await call(alpha, 'tunnel_list_cnames');
    assert.deepEqual(mine.structuredContent.cnames.map((c) => c.hostname), ['alpha-app.example.com']);
    const theirs = await call(beta, 'tunnel_list_cnames');
    assert.deepEqual(theirs.structuredContent.cnames.map((c) => c.hostname), ['beta-app.example.com']);
    const steal = await call(beta, 'tunnel_delete_cname', { hostname: 'alpha-app.example.com' });
    assert.equal(steal.isError, true);
    const wrongPort = await call(alpha, 'tunnel_request_cname', { subdomain: 'x', port: 4101 });
    assert.equal(wrongPort.isError, true);

    for (const [client, host] of [[alpha, 'alpha-app.example.com'], [beta, 'beta-app.example.com']]) {
      const r = await call(client, 'tunnel_delete_cname', { hostname: host });
      assert.equal(r.isError, false, JSON.stringify(r));
    }
    assert.equal((await call(alpha, 'tunnel_list_cnames')).structuredContent.cnames.length, 0);
  } finally {
    await Promise.all([alpha.close(), beta.close()]);
  }
  // The audit (read by the operator) names each session's uid, as the kernel saw it.
  const audit = spawnSync(tunnelmgr, ['--config', configPath, 'audit', '--json', '--limit', '200'], { encoding: 'utf8' });
  assert.equal(audit.status, 0, audit.stderr);
  const rows = JSON.parse(audit.stdout);
  const rowsOf = (project, action) => rows.filter((r) => r.project === project && r.action === action && r.result === 'ok');
  for (const [who, host] of [['alpha', 'alpha-app.example.com'], ['beta', 'beta-app.example.com']]) {
    for (const action of ['cname.create', 'cname.delete']) {
      const r = rowsOf(who, action);
      assert.equal(r.length, 1, `${who} ${action}: ${JSON.stringify(rows)}`);
      assert.equal(r[0].target, host);
      assert.equal(r[0].details.origin, 'api');
      assert.equal(r[0].details.peer_uid, ids[who].uid);
    }
  }
  const denied = rows.find((r) => r.result === 'denied' && r.actor === 'project:beta' && r.action === 'cname.delete');
  assert.ok(denied, 'beta\'s attempt on alpha\'s name is audited');
  assert.equal(denied.details.peer_uid, ids.beta.uid);
});

test('a user outside the socket group gets one sentence naming the socket and the group', { skip }, () => {
  const argv = asUser('outsider', [tunnelmgr, '--config', configPath, '--plugin-dir', pluginDir, 'mcp', '--project', 'alpha']);
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8', input: '',
    env: { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.alpha, TUNNELMGR_API_SOCKET: socket },
  });
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`may not connect to the tunnelmgr API socket ${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(group ${group}\\)`));
  assert.ok(!r.stderr.includes(tokens.alpha));
});

test('a wrong token is refused by the daemon, and nothing is served', { skip }, () => {
  const argv = asUser('alpha', [tunnelmgr, '--config', configPath, '--plugin-dir', pluginDir, 'mcp', '--project', 'alpha']);
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8', input: '',
    env: { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.beta, TUNNELMGR_API_SOCKET: socket },
  });
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /refused the session: the token is not project 'alpha''s token/);
  assert.ok(!r.stderr.includes(tokens.beta));
});

test('the operator\'s CLI goes through the daemon too: the same table, audited with uid 0', { skip }, () => {
  const cli = (...args) => spawnSync(tunnelmgr, ['--config', configPath, ...args], { encoding: 'utf8' });
  const added = cli('cname', 'add', 'ops', '--port', '3150', '--project', 'alpha', '--json');
  assert.equal(added.status, 0, added.stderr);
  assert.equal(JSON.parse(added.stdout).hostname, 'ops.example.com');
  const removed = cli('cname', 'rm', 'ops.example.com', '--json');
  assert.equal(removed.status, 0, removed.stderr);
  const rows = JSON.parse(cli('audit', '--json', '--limit', '50').stdout);
  const create = rows.find((r) => r.action === 'cname.create' && r.target === 'ops.example.com');
  assert.ok(create, JSON.stringify(rows));
  assert.equal(create.actor, 'admin');
  assert.equal(create.details.origin, 'api');
  assert.equal(create.details.peer_uid, 0);
});

test('a thin session the client ends exits 0 without a word about the daemon', { skip }, () => {
  const argv = asUser('alpha', [tunnelmgr, '--config', configPath, '--plugin-dir', pluginDir, 'mcp', '--project', 'alpha']);
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'end', version: '1' } } });
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8', input: init + '\n',
    env: { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.alpha, TUNNELMGR_API_SOCKET: socket },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.split('\n')[0]).id, 1);
  assert.ok(!r.stderr.includes('closed the connection'), r.stderr);
});

// Last: it stops the daemon.
test('when the daemon stops, a thin session ends with a sentence instead of failing every call', { skip }, async () => {
  const argv = asUser('alpha', [tunnelmgr, '--config', configPath, '--plugin-dir', pluginDir, 'mcp', '--project', 'alpha']);
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, TUNNELMGR_TOKEN: tokens.alpha, TUNNELMGR_API_SOCKET: socket },
  });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  // setpriv execs tunnelmgr: the session's pid is the child's.
  await waitFor(() => daemonErr.includes(`session for project:alpha (uid ${ids.alpha.uid}, pid ${child.pid})`),
    'the session opening at the daemon');
  daemon.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 15000))]);
  if (code === 'still running') child.kill('SIGKILL');
  assert.equal(code, 3, err);
  assert.match(err, /closed the connection \(it stopped or restarted\); start the session again/);
  daemon = null;
});
