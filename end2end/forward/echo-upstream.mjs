#!/usr/bin/env node
// The app behind the proxy in the forward-authentication tests: it has no
// login of its own and shows the headers it received, so a test sees what
// the proxy let through and who it says the user is.
//
//   node end2end/forward/echo-upstream.mjs --port 3176
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "3176" } } });
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

createServer((req, res) => {
  const rows = Object.entries(req.headers)
    .map(([k, v]) => `<tr><th>${escape(k)}</th><td data-header="${escape(k)}">${escape(v)}</td></tr>`)
    .join("");
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Protected app</title></head>
<body><h1>Protected app</h1><p id="path">${escape(req.url)}</p><table>${rows}</table></body></html>`);
}).listen(Number(values.port), "127.0.0.1");
