import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { commandTable } from "../commands";
import { CLIENT_SETTINGS, serverCommand, serverSettings } from "../settings";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const properties: Record<string, unknown> = manifest.contributes.configuration.properties;

test("the server command comes from server_command, then python_path, then PATH", () => {
  assert.deepEqual(serverCommand(["/venv/bin/ghostwright", "serve"], "/usr/bin/python3"), {
    command: "/venv/bin/ghostwright",
    args: ["serve"],
  });
  assert.deepEqual(serverCommand([], "/venv/bin/python"), {
    command: "/venv/bin/python",
    args: ["-m", "ghostwright.server", "serve"],
  });
  assert.deepEqual(serverCommand([], ""), { command: "ghostwright", args: ["serve"] });
});

test("only settings the user set, and only the server's, reach the server", () => {
  const values = { model: "/m.gguf", max_lines: 4, enabled: false, python_path: "/p", get: () => 1 };
  const isSet = (key: string) => key !== "max_lines";
  assert.deepEqual(serverSettings(values, isSet), { model: "/m.gguf" });
});

test("every client setting is declared in package.json", () => {
  for (const key of CLIENT_SETTINGS) {
    assert.ok(`ghostwright.${key}` in properties, key);
  }
});

test("every command in package.json has a handler, and the other way round", () => {
  const declared = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
  const table = commandTable({} as never);
  assert.deepEqual(Object.keys(table).sort(), declared);
});
