#!/usr/bin/env node
// Checks the hand-written API types against the server's OpenAPI document:
// every property of each schema below must be in its TypeScript interface,
// and the other way round.
//
//   node scripts/check-types.mjs openapi.json [src/types.ts]
//
// The document is what Gatehouse serves at /api/v1/openapi.json. Only names
// are compared, not types or optionality: `email` is `Option<String>` on the
// server yet always present (as null), which the document cannot say plainly.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Schema in `components.schemas` → interface in src/types.ts. */
const PAIRS = {
  UserView: "User",
  TokenResponse: "TokenPair",
  TokenMfaRequired: "MfaRequired",
  ErrorBody: "ApiError",
};

const [docPath, typesPath = fileURLToPath(new URL("../src/types.ts", import.meta.url))] = process.argv.slice(2);
if (!docPath) {
  console.error("usage: node scripts/check-types.mjs OPENAPI_JSON [TYPES_TS]");
  process.exit(2);
}

let doc;
try {
  doc = JSON.parse(readFileSync(docPath, "utf8"));
} catch (e) {
  console.error(`check-types: cannot read ${docPath}: ${e.message}`);
  process.exit(2);
}
const interfaces = parseInterfaces(readFileSync(typesPath, "utf8"));
const schemas = doc?.components?.schemas ?? {};

const problems = [];
for (const [schemaName, interfaceName] of Object.entries(PAIRS)) {
  const schema = schemas[schemaName];
  const ts = interfaces.get(interfaceName);
  if (!schema) {
    problems.push(`${schemaName}: not in components.schemas of ${docPath}`);
    continue;
  }
  if (!ts) {
    problems.push(`${interfaceName}: no \`interface ${interfaceName}\` in ${typesPath}`);
    continue;
  }
  const api = schemaProperties(schema);
  const before = problems.length;
  for (const name of api) {
    if (!ts.has(name)) problems.push(`${interfaceName} lacks \`${name}\`, which ${schemaName} has`);
  }
  for (const name of ts) {
    if (!api.has(name)) problems.push(`${interfaceName} has \`${name}\`, which ${schemaName} lacks`);
  }
  if (problems.length === before) console.log(`ok ${interfaceName} = ${schemaName} (${[...api].sort().join(", ")})`);
}

if (problems.length) {
  console.error(`check-types: src/types.ts and the OpenAPI document disagree:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}

/** The property names of a schema, through `$ref` and `allOf`. */
function schemaProperties(schema, seen = new Set()) {
  const names = new Set();
  if (!schema || typeof schema !== "object") return names;
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, "");
    if (seen.has(name)) return names;
    seen.add(name);
    return schemaProperties(schemas[name], seen);
  }
  for (const name of Object.keys(schema.properties ?? {})) names.add(name);
  for (const part of schema.allOf ?? []) {
    for (const name of schemaProperties(part, seen)) names.add(name);
  }
  return names;
}

/**
 * `interface Name { ... }` blocks of a TypeScript file → their top-level
 * property names. Textual, which is enough for a file of plain interfaces.
 */
function parseInterfaces(source) {
  const text = stripComments(source);
  const found = new Map();
  const head = /\binterface\s+([A-Za-z_$][\w$]*)[^{]*\{/g;
  let m;
  while ((m = head.exec(text))) {
    let depth = 1;
    let i = head.lastIndex;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}") depth--;
    }
    let body = text.slice(head.lastIndex, i - 1);
    // Drop nested object types so only this interface's own members remain.
    while (/\{[^{}]*\}/.test(body)) body = body.replace(/\{[^{}]*\}/g, "");
    const names = new Set();
    const member = /(?:^|[;,\n])\s*(?:readonly\s+)?(["']?)([A-Za-z_$][\w$]*)\1\s*\??\s*:/g;
    let p;
    while ((p = member.exec(body))) names.add(p[2]);
    found.set(m[1], names);
  }
  return found;
}

/** Removes comments, leaving strings alone (a `//` may sit in one). */
function stripComments(source) {
  let out = "";
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && next === "*") {
      i += 2;
      while (i < source.length && !(source[i] === "*" && source[i + 1] === "/")) i++;
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === "\\" ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j;
    } else {
      out += c;
    }
  }
  return out;
}
