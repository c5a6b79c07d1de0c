// The demo's round trip through the real MCP interface: the official SDK client spawns
// `tunnelmgr mcp` as a project session and calls the tools an agent would, printing each step.
//   node demo_round_trip.mjs TUNNELMGR CONFIG PROJECT   (token in TUNNELMGR_TOKEN)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [tunnelmgr, config, project] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: tunnelmgr,
  args: ['--config', config, '--log-level', 'warn', 'mcp', '--project', project],
  env: { ...process.env },
  stderr: 'inherit',
});
const client = new Client({ name: 'tunnelmgr-demo', version: '1.0.0' });
const t0 = performance.now();
await client.connect(transport);
const { tools } = await client.listTools();
console.log(`connected as project "${project}" in ${(performance.now() - t0).toFixed(0)} ms; ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}`);

async function call(name, args = {}, options = {}) {
  console.log(`\n\x1b[1m> ${name} ${JSON.stringify(args)}\x1b[0m`);
  const t = performance.now();
  const r = await client.callTool({ name, arguments: args }, undefined, options);
  const ms = (performance.now() - t).toFixed(1);
  console.log(`${r.isError ? 'ERROR ' : ''}(${ms} ms) ${JSON.stringify(r.structuredContent, null, 2).split('\n').join('\n  ')}`);
  if (r.isError && !options.mayFail) throw new Error(`${name} failed`);
  return r.structuredContent;
}

await call('tunnel_get_status');
await call('tunnel_list_domains');
await call('tunnel_check_target', { subdomain: 'shop', port: 3100 });
await call('tunnel_request_cname', { subdomain: 'shop', port: 9999 }, { mayFail: true });  // not this project's port
await call('tunnel_request_cname', { subdomain: 'shop', port: 3100 }, {
  onprogress: (p) => console.log(`  progress ${p.progress}/${p.total} ${p.message ?? ''}`),
});
await call('tunnel_list_cnames');
await call('tunnel_delete_cname', { hostname: 'shop.example.com' });
await call('tunnel_audit_log', { limit: 5 });
await client.close();
console.log(`\nround trip done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
