// scripts/check-types.mjs: the hand-written types against an OpenAPI document.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../scripts/check-types.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "gatehouse-check-types-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const props = (...names: string[]) => Object.fromEntries(names.map((n) => [n, { type: "string" }]));

/** A document shaped like the server's, with the schemas the client mirrors. */
function document(overrides: Record<string, unknown> = {}) {
  return {
    openapi: "3.1.0",
    components: {
      schemas: {
        UserView: {
          type: "object",
          properties: props("id", "username", "email", "role", "email_verified", "created_at"),
        },
        TokenResponse: { type: "object", properties: props("access_token", "token_type", "expires_in", "refresh_token") },
        TokenMfaRequired: { type: "object", properties: props("mfa_required", "mfa_token", "methods") },
        ErrorBody: { type: "object", properties: props("error") },
        ...overrides,
      },
    },
  };
}

function check(doc: unknown) {
  const path = join(dir, `openapi-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return spawnSync(process.execPath, [script, path], { encoding: "utf8" });
}

describe("check-types", () => {
  test("passes when src/types.ts matches the schemas", () => {
    const run = check(document());
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /ok User = UserView/);
  });

  test("follows $ref and allOf", () => {
    const run = check(
      document({
        UserView: { allOf: [{ $ref: "#/components/schemas/UserBase" }, { properties: props("email_verified", "created_at") }] },
        UserBase: { properties: props("id", "username", "email", "role") },
      }),
    );
    assert.equal(run.status, 0, run.stderr);
  });

  test("fails on a property the server added or the client invented", () => {
    const run = check(
      document({
        UserView: { properties: props("id", "username", "email", "role", "email_verified", "created_at", "locale") },
        TokenResponse: { properties: props("access_token", "token_type", "expires_in") },
      }),
    );
    assert.equal(run.status, 1);
    assert.match(run.stderr, /User lacks `locale`, which UserView has/);
    assert.match(run.stderr, /TokenPair has `refresh_token`, which TokenResponse lacks/);
  });

  test("fails when a schema is missing from the document", () => {
    const doc = document();
    delete (doc.components.schemas as Record<string, unknown>)["TokenMfaRequired"];
    const run = check(doc);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /TokenMfaRequired: not in components.schemas/);
  });
});
