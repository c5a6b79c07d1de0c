// tools/call round trips over stdio with N CNAMEs stored, beside the reference MCP server's `echo`
// (@modelcontextprotocol/server-everything, Node): from a raw JSON-RPC client (what the server itself
// costs) and from the official SDK client (what an agent sees). Calls are interleaved in rounds so a
// busy moment of the machine falls on every server alike. Prints p50/p99 and each one's ratio to echo
// against issue 13's anchors (raw ≤ 0.5×, SDK ≤ 1.0×), and spawn → initialize; asserts nothing.
//   node bench_mcp.mjs BUILD_DIR [N=10000] [CALLS=300]
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = path.resolve(process.argv[2] ?? 'build');
const rows = Number(process.argv[3] ?? 10000);
const calls = Number(process.argv[4] ?? 300);
const rounds = 3;
const dir = mkdtempSync(path.join(tmpdir(), 'tm-bench-mcp-'));
const sha = (s) => createHash('sha256').update(s).digest('hex');
const tokens = { p3: 'fake-token-for-bench-p3', admin: 'fake-token-for-bench-admin' };
const everything = path.join(here, 'reference/node_modules/@modelcontextprotocol/server-everything/dist/index.js');

execFileSync(path.join(build, 'tests/bench/mcp/tm_seed_state'), [path.join(dir, 'state.db'), String(rows)], { stdio: ['ignore', 'ignore', 'inherit'] });
let projects = '';
for (let i = 0; i < 10; i++) projects += `  p${i}: { ports: "1-65535"${i === 3 ? `, token_sha256: ${sha(tokens.p3)}` : ''} }\n`;
writeFileSync(path.join(dir, 'config.yml'),
  `state: { plugin: sqlite-state, path: ${dir}/state.db }\n` +
  `transport: { plugin: mcp-stdio }\n` +
  `tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, config_file: ${dir}/cloudflared.yml, metrics: 127.0.0.1:1 }\n` +
  `projects:\n${projects}admin: { token_sha256: ${sha(tokens.admin)} }\nplugin_dir: ${build}/plugins\nlog: { level: error }\n`);

const servers = {
  project: { command: path.join(build, 'tunnelmgr'), args: ['--config', path.join(dir, 'config.yml'), 'mcp', '--project', 'p3'], token: tokens.p3 },
  admin: { command: path.join(build, 'tunnelmgr'), args: ['--config', path.join(dir, 'config.yml'), 'mcp', '--admin'], token: tokens.admin },
  echo: { command: process.execPath, args: [everything, 'stdio'] },
};
const env = (s) => ({ ...process.env, ...(s.token ? { TUNNELMGR_TOKEN: s.token } : {}) });

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))]; };

// A bare JSON-RPC client over the child's stdio: one request at a time, the next response line is its answer.
class RawClient {
  constructor(s) {
    this.child = spawn(s.command, s.args, { env: env(s), stdio: ['pipe', 'pipe', 'ignore'] });
    this.buf = '';
    this.waiting = null;
    this.nextId = 1;
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk) => {
      this.buf += chunk;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        // Notifications carry no id; a response does (tunnelmgr writes it first, the SDK last).
        if (this.waiting && (line.startsWith(`{"jsonrpc":"2.0","id":${this.waiting.id},`) || line.endsWith(`"id":${this.waiting.id}}`))) {
          const w = this.waiting;
          this.waiting = null;
          w.resolve(line);
        }
      }
    });
  }
  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting = { id, resolve };
      this.child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }
  async initialize() {
    await this.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-raw', version: '1.0.0' } });
    this.child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  }
  async callTool(name, args) {
    const line = await this.request('tools/call', { name, arguments: args });
    return line;
  }
  close() { this.child.stdin.end(); this.child.kill('SIGTERM'); }
}

async function sdkSession(s) {
  const transport = new StdioClientTransport({ command: s.command, args: s.args, env: env(s), stderr: 'ignore' });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const t0 = performance.now();
  await client.connect(transport);
  return { client, connectMs: performance.now() - t0 };
}

// The p3 page's answer, in bytes: echo is also measured with a message that long, an anchor that
// carries as many bytes (a page goes out twice by the MCP rules: structuredContent and the same JSON
// as text; echo's answer holds its message once, so the message is the whole answer's length).
async function pageBytes() {
  const c = new RawClient(servers.project);
  await c.initialize();
  const line = await c.callTool('tunnel_list_cnames', {});
  c.close();
  return Buffer.byteLength(line);
}
const bytes = await pageBytes();

// What is measured: [label, server, tool, arguments]; echo is the anchor of every ratio.
const cases = [
  ['echo (reference server)', 'echo', 'echo', { message: 'hello' }],
  ['tunnel_get_status (project p3)', 'project', 'tunnel_get_status', {}],
  ['tunnel_list_domains (project p3)', 'project', 'tunnel_list_domains', {}],
  [`tunnel_list_cnames (p3, 100-row page of ${rows / 10})`, 'project', 'tunnel_list_cnames', {}],
  [`echo, a message as long as that page (${bytes} B)`, 'echo', 'echo', { message: 'x'.repeat(bytes) }],
  ['tunnel_get_status (admin)', 'admin', 'tunnel_get_status', {}],
  [`tunnel_list_cnames (admin, page of ${rows})`, 'admin', 'tunnel_list_cnames', {}],
];

async function measureAll(kind) {
  const clients = {};
  for (const name of Object.keys(servers)) {
    if (kind === 'raw') {
      clients[name] = new RawClient(servers[name]);
      await clients[name].initialize();
    } else {
      clients[name] = (await sdkSession(servers[name])).client;
    }
  }
  const call = (c, tool, args) => (kind === 'raw' ? c.callTool(tool, args) : c.callTool({ name: tool, arguments: args }));
  const times = Object.fromEntries(cases.map(([label]) => [label, []]));
  for (const [label, server, tool, args] of cases) {
    const first = await call(clients[server], tool, args);  // and a check that it works at all
    const failed = kind === 'raw' ? !JSON.parse(first).result || JSON.parse(first).result.isError === true : first.isError;
    if (failed) throw new Error(`${label}: ${kind === 'raw' ? first : JSON.stringify(first.content)}`);
    for (let i = 0; i < 20; i++) await call(clients[server], tool, args);  // warm up
  }
  for (let r = 0; r < rounds; r++) {
    for (const [label, server, tool, args] of cases) {
      for (let i = 0; i < calls / rounds; i++) {
        const t0 = performance.now();
        await call(clients[server], tool, args);
        times[label].push(performance.now() - t0);
      }
    }
  }
  for (const c of Object.values(clients)) await c.close();
  return times;
}

function report(title, anchor, times) {
  const echo = times[cases[0][0]];
  const e50 = pct(echo, 0.5), e99 = pct(echo, 0.99);
  console.log(`${title} (ratios to echo; issue 13 goal: ≤ ${anchor}×)`);
  for (const [label] of cases) {
    const p50 = pct(times[label], 0.5), p99 = pct(times[label], 0.99);
    const ratio = label === cases[0][0] ? '' : `   ${(p50 / e50).toFixed(2)}× / ${(p99 / e99).toFixed(2)}×${p50 / e50 > anchor || p99 / e99 > anchor ? '  (over the goal)' : ''}`;
    // A page beside the echo of as many bytes: what the server adds beyond moving the bytes.
    const sized = times[cases[4][0]];
    const bySize = label.startsWith('tunnel_list_cnames') ? `; ${(p50 / pct(sized, 0.5)).toFixed(2)}× the same-size echo` : '';
    console.log(`  ${label.padEnd(48)} p50 ${p50.toFixed(3).padStart(7)} ms  p99 ${p99.toFixed(3).padStart(7)} ms${ratio}${bySize}`);
  }
}

if (!existsSync(everything)) {
  console.error(`the reference server is not installed: (cd ${path.join(here, 'reference')} && npm ci)`);
  process.exit(2);
}
console.log(`MCP over stdio, ${rows} CNAMEs stored, ${calls} calls each in ${rounds} interleaved rounds:`);
report('  raw JSON-RPC client (the server\'s own cost)', 0.5, await measureAll('raw'));
report('  official @modelcontextprotocol/sdk client', 1.0, await measureAll('sdk'));

const spawnTimes = { project: [], echo: [] };
for (let i = 0; i < 10; i++) {
  for (const name of Object.keys(spawnTimes)) {
    const { client, connectMs } = await sdkSession(servers[name]);
    spawnTimes[name].push(connectMs);
    await client.close();
  }
}
const sp = pct(spawnTimes.project, 0.5), se = pct(spawnTimes.echo, 0.5);
console.log(`  spawn -> initialize answered (median of 10): tunnelmgr ${sp.toFixed(1)} ms, echo server ${se.toFixed(1)} ms: ${(sp / se).toFixed(3)}× (issue 13: 0.045×, keep it)`);
rmSync(dir, { recursive: true, force: true });
