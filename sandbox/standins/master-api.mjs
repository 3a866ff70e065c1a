#!/usr/bin/env node
// Master API stand-in (no dependencies): reads /etc/origin/master/master-config.yaml once at start
// (`master-restart api` starts a new process, so a restart re-reads it), then serves HTTPS on
// servingInfo.bindAddress (0.0.0.0:8443) with servingInfo.certFile/keyFile. GET /healthz answers
// 200 `ok` when at least one of etcdClientInfo.urls answers etcd's /health with `"health":"true"`
// (client certificate etcdClientInfo.certFile/keyFile, CA etcdClientInfo.ca), else 500 and the
// reason. It rechecks every second and starts listening after the first check.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

const configFile = process.env.MASTER_CONFIG ?? '/etc/origin/master/master-config.yaml';
const configDir = path.dirname(configFile);

/** The scalar keys and the `urls` list of a top-level block of a YAML document, read line by line. */
function readBlock(text, block) {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line === `${block}:`);
  const result = { urls: [] };
  if (start < 0) return result;
  let inList = null;
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    const item = /^\s+- (.+)$/.exec(line);
    if (item && inList) {
      result[inList].push(item[1].trim());
      continue;
    }
    const pair = /^ {2}([A-Za-z]+):\s*(.*)$/.exec(line);
    if (pair) {
      const [, key, value] = pair;
      if (value === '') {
        inList = key;
        result[key] = [];
      } else {
        inList = null;
        result[key] = value.replace(/^['"]|['"]$/g, '');
      }
    }
  }
  return result;
}

const text = fs.readFileSync(configFile, 'utf8');
const etcd = readBlock(text, 'etcdClientInfo');
const serving = readBlock(text, 'servingInfo');
const resolve = (file) => path.resolve(configDir, file);
const tls = {
  ca: fs.readFileSync(resolve(etcd.ca)),
  cert: fs.readFileSync(resolve(etcd.certFile)),
  key: fs.readFileSync(resolve(etcd.keyFile)),
};
const [bindHost = '0.0.0.0', bindPort = '8443'] = (serving.bindAddress ?? '0.0.0.0:8443').split(':');
console.log(`master-api: etcd urls ${etcd.urls.join(',')}; serving on ${bindHost}:${bindPort}`);

let health = { ok: false, reason: 'starting' };

function checkUrl(url) {
  return new Promise((resolvePromise) => {
    const request = https.get(`${url}/health`, { ...tls, timeout: 1000 }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => {
        const ok = response.statusCode === 200 && /"health"\s*:\s*"true"/.test(body);
        resolvePromise(ok ? { ok: true } : { ok: false, reason: `${url}: ${response.statusCode} ${body.trim()}` });
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolvePromise({ ok: false, reason: `${url}: ${error.message}` }));
  });
}

async function check() {
  const results = await Promise.all(etcd.urls.map(checkUrl));
  const ok = results.some((r) => r.ok);
  const next = ok ? { ok: true } : { ok: false, reason: results.map((r) => r.reason).join('; ') || 'no etcd urls configured' };
  if (next.ok !== health.ok || next.reason !== health.reason) {
    console.log(`master-api: ${next.ok ? 'healthy' : `unhealthy: ${next.reason}`}`);
  }
  health = next;
}

await check();
setInterval(() => void check(), 1000);

const server = https.createServer({ cert: fs.readFileSync(resolve(serving.certFile)), key: fs.readFileSync(resolve(serving.keyFile)) }, (request, response) => {
  if (request.url === '/healthz' || request.url === '/healthz/ready') {
    response.writeHead(health.ok ? 200 : 500, { 'content-type': 'text/plain' });
    response.end(health.ok ? 'ok' : `[-]etcd failed: ${health.reason}\nhealthz check failed`);
    return;
  }
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('not found');
});
server.listen(Number(bindPort), bindHost);
process.on('SIGTERM', () => process.exit(0));
