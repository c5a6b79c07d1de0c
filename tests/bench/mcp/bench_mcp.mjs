// tools/call round trip over stdio, measured from the official MCP client, with 10,000 CNAMEs
// stored: tunnel_get_status and tunnel_list_cnames for one project and for the admin (all rows).
// Also spawn → initialize answered. Prints p50/p99; asserts nothing (figures for the notes).
//   node bench_mcp.mjs BUILD_DIR [N=10000] [CALLS=300]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const build = path.resolve(process.argv[2] ?? 'build');
const rows = Number(process.argv[3] ?? 10000);
const calls = Number(process.argv[4] ?? 300);
const dir = mkdtempSync(path.join(tmpdir(), 'tm-bench-mcp-'));
const sha = (s) => createHash('sha256').update(s).digest('hex');
const tokens = { p3: 'fake-token-for-bench-p3', admin: 'fake-token-for-bench-admin' };

execFileSync(path.join(build, 'tests/bench/mcp/tm_seed_state'), [path.join(dir, 'state.db'), String(rows)], { stdio: 'inherit' });
let projects = '';
for (let i = 0; i < 10; i++) projects += `  p${i}: { ports: "1-65535"${i === 3 ? `, token_sha256: ${sha(tokens.p3)}` : ''} }\n`;
writeFileSync(path.join(dir, 'config.yml'),
  `state: { plugin: sqlite-state, path: ${dir}/state.db }\n` +
  `transport: { plugin: mcp-stdio }\n` +
  `tunnel: { id: 6ff42ae2-765d-4adf-8112-31c55c1551ef, config_file: ${dir}/cloudflared.yml, metrics: 127.0.0.1:1 }\n` +
  `projects:\n${projects}admin: { token_sha256: ${sha(tokens.admin)} }\nplugin_dir: ${build}/plugins\nlog: { level: error }\n`);

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))]; };
const fmt = (ms) => `${ms.toFixed(3)} ms`;

async function session(args, token) {
  const transport = new StdioClientTransport({ command: path.join(build, 'tunnelmgr'),
    args: ['--config', path.join(dir, 'config.yml'), 'mcp', ...args], env: { ...process.env, TUNNELMGR_TOKEN: token }, stderr: 'ignore' });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const t0 = performance.now();
  await client.connect(transport);
  return { client, connectMs: performance.now() - t0 };
}

async function measure(client, name, args) {
  for (let i = 0; i < 20; i++) await client.callTool({ name, arguments: args });  // warm up
  const times = [];
  let size = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const r = await client.callTool({ name, arguments: args });
    times.push(performance.now() - t0);
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`);
    size = JSON.stringify(r.structuredContent).length;
  }
  return { p50: pct(times, 0.5), p99: pct(times, 0.99), size };
}

const spawnTimes = [];
for (let i = 0; i < 10; i++) {
  const { client, connectMs } = await session(['--project', 'p3'], tokens.p3);
  spawnTimes.push(connectMs);
  await client.close();
}
const project = await session(['--project', 'p3'], tokens.p3);
const admin = await session(['--admin'], tokens.admin);
const results = {
  'tunnel_get_status (project p3)': await measure(project.client, 'tunnel_get_status', {}),
  [`tunnel_list_cnames (project p3, 100-row page of ${rows / 10})`]: await measure(project.client, 'tunnel_list_cnames', {}),
  'tunnel_get_status (admin)': await measure(admin.client, 'tunnel_get_status', {}),
  [`tunnel_list_cnames (admin, 100-row page of ${rows})`]: await measure(admin.client, 'tunnel_list_cnames', {}),
};
await project.client.close();
await admin.client.close();
console.log(`MCP over stdio, ${rows} CNAMEs stored, ${calls} calls each (official @modelcontextprotocol/sdk client):`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(44)} p50 ${fmt(v.p50)}  p99 ${fmt(v.p99)}  (${v.size} bytes)`);
console.log(`  spawn -> initialize answered: median ${fmt(pct(spawnTimes, 0.5))} of 10`);
rmSync(dir, { recursive: true, force: true });
