#!/usr/bin/env node
// Serves the example SPA from its own origin, as a real app would be, with
// no dependencies:
//
//   node examples/spa/serve.mjs --port 4173 --gatehouse http://localhost:3100 [--host 127.0.0.1]
//
//   /                      index.html
//   /app.js, /index.html   files of examples/spa
//   /config.js             the Gatehouse base URL given by --gatehouse
//   /gatehouse-client.js   the built client (clients/typescript/dist), through
//   /client/*.js           ... these, so its relative imports resolve

import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "..", "clients", "typescript", "dist");

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4173" },
    host: { type: "string", default: "127.0.0.1" },
    gatehouse: { type: "string", default: "http://localhost:3100" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("usage: node examples/spa/serve.mjs [--port 4173] [--host 127.0.0.1] [--gatehouse http://localhost:3100]");
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: not a port: ${values.port}`);
let gatehouse;
try {
  gatehouse = new URL(values.gatehouse);
} catch {
  fail(`--gatehouse: not a URL: ${values.gatehouse}`);
}
if (!/^https?:$/.test(gatehouse.protocol)) fail(`--gatehouse: not http(s): ${values.gatehouse}`);
// Keep a path prefix if Gatehouse sits under one; drop a trailing slash.
const gatehouseUrl = gatehouse.href.replace(/\/+$/, "");

/** The page's own files: a fixed list, so nothing else in the folder is served. */
const PAGE_FILES = new Set(["index.html", "app.js"]);

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
};

/**
 * Tokens in memory are safe only while no foreign script runs in the page,
 * so the example shows the policy an app should have: its own scripts, and
 * connections to itself and Gatehouse.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  `connect-src 'self' ${gatehouse.origin}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const server = createServer(async (req, res) => {
  const send = (status, type, body) => {
    res.writeHead(status, {
      "Content-Type": type,
      "Cache-Control": "no-store",
      "Content-Security-Policy": CSP,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    return send(405, "text/plain; charset=utf-8", "method not allowed\n");
  }
  const path = new URL(req.url ?? "/", "http://x").pathname;
  try {
    if (path === "/" || path === "/index.html") {
      return send(200, TYPES[".html"], await readFile(join(here, "index.html")));
    }
    if (path === "/config.js") {
      return send(200, TYPES[".js"], `export const gatehouseUrl = ${JSON.stringify(gatehouseUrl)};\n`);
    }
    if (path === "/gatehouse-client.js") {
      return send(200, TYPES[".js"], 'export * from "./client/index.js";\n');
    }
    const client = /^\/client\/([A-Za-z0-9_-]+\.js)$/.exec(path);
    if (client) {
      return send(200, TYPES[".js"], await readClient(client[1]));
    }
    const own = path.slice(1);
    if (PAGE_FILES.has(own)) {
      return send(200, TYPES[own.slice(own.lastIndexOf("."))], await readFile(join(here, own)));
    }
    return send(404, "text/plain; charset=utf-8", "not found\n");
  } catch (e) {
    if (e?.code === "ENOENT") return send(404, "text/plain; charset=utf-8", "not found\n");
    if (e?.code === "NOT_BUILT") return send(500, "text/plain; charset=utf-8", `${e.message}\n`);
    console.error(e);
    return send(500, "text/plain; charset=utf-8", "internal error\n");
  }
});

/** A file of the built client, with a hint when it has not been built. */
async function readClient(name) {
  try {
    return await readFile(join(dist, name));
  } catch (e) {
    if (e?.code === "ENOENT" && name === "index.js") {
      throw Object.assign(new Error(`${join(dist, name)} is missing: build the client first ` +
        "(cd clients/typescript && npm install && npm run build)"), { code: "NOT_BUILT" });
    }
    throw e;
  }
}

server.listen(port, values.host, async () => {
  const { port: bound } = server.address();
  const shown = values.host === "127.0.0.1" ? "localhost" : values.host;
  const origin = `http://${shown}:${bound}`;
  console.log(`Example SPA on ${origin} (bound to ${values.host}:${bound}), talking to Gatehouse at ${gatehouseUrl}`);
  console.log(`Start Gatehouse with GATEHOUSE_ALLOWED_ORIGINS=${origin} to let this page call it.`);
  await readClient("index.js").catch((e) => console.warn(`Warning: ${e.message}`));
});

function fail(message) {
  console.error(`serve.mjs: ${message}`);
  process.exit(2);
}
