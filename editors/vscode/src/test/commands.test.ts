import assert from "node:assert/strict";
import { test } from "node:test";

import { CommandHost, commandTable } from "../commands";
import { statusView } from "../status";

function fakeHost(answers: Record<string, unknown> = {}) {
  const calls: string[] = [];
  let enabled = true;
  const host: CommandHost = {
    executeServerCommand: async (command) => {
      calls.push(`server:${command}`);
      if (command in answers) {
        return answers[command];
      }
      throw new Error(`unknown command ${command}`);
    },
    restartServer: async () => void calls.push("restart"),
    setEnabled: async (value) => {
      enabled = value;
      calls.push(`enabled:${value}`);
    },
    isEnabled: () => enabled,
    showInformation: (message) => void calls.push(`info:${message}`),
    showError: (message) => void calls.push(`error:${message}`),
    refreshStatus: () => void calls.push("refresh"),
  };
  return { host, calls };
}

test("reindex and status run the server's commands", async () => {
  const index = { state: "ready", files: 3, chunks: 9 };
  const { host, calls } = fakeHost({ "ghostwright.reindex": index, "ghostwright.status": { state: "ready" } });
  const table = commandTable(host);
  await table["ghostwright.reindex"]();
  await table["ghostwright.showStatus"]();
  assert.deepEqual(calls.slice(0, 3), [
    "server:ghostwright.reindex",
    "refresh",
    "info:ghostwright: index ready: 3 files, 9 chunks",
  ]);
  assert.equal(calls[3], "server:ghostwright.status");
});

test("fine-tune runs ghostwright.train and reports a server failure as one error", async () => {
  const { host, calls } = fakeHost();
  await commandTable(host)["ghostwright.fineTune"]();
  assert.deepEqual(calls, [
    "server:ghostwright.train",
    "error:ghostwright: ghostwright.train failed: unknown command ghostwright.train",
  ]);
});

test("fine-tune leaves the outcome to the server's own message and refreshes the status", async () => {
  const { host, calls } = fakeHost({ "ghostwright.train": { installed: "/repo/.ghostwright/adapters/a.gguf" } });
  await commandTable(host)["ghostwright.fineTune"]();
  assert.deepEqual(calls, ["server:ghostwright.train", "refresh"]);
});

test("toggle flips the setting and restart restarts", async () => {
  const { host, calls } = fakeHost();
  const table = commandTable(host);
  await table["ghostwright.toggle"]();
  await table["ghostwright.toggle"]();
  await table["ghostwright.restart"]();
  assert.deepEqual(calls.filter((c) => !c.startsWith("info") && c !== "refresh"), [
    "enabled:false",
    "enabled:true",
    "restart",
  ]);
});

test("the status bar shows model, index and latency", () => {
  const view = statusView(
    {
      state: "ready",
      model: "gemma-3-270m-q4_k_m.gguf",
      adapter: null,
      latency_ms: { p50: 84.6, p95: 230, count: 12 },
      index: { state: "ready", files: 40, chunks: 1234 },
    },
    true,
  );
  assert.equal(view.text, "$(sparkle) gemma-3-270m · idx 1.2k · 85 ms");
  assert.match(view.tooltip, /index: ready, 40 files, 1234 chunks/);
  assert.match(statusView({ state: "ready", model: "m", adapter: null }, false).text, /circle-slash/);
  assert.match(statusView(undefined, true).text, /loading/);
});

test("distill runs ghostwright.distill and refreshes the status bar", async () => {
  const { host, calls } = fakeHost({ "ghostwright.distill": { installed: "/repo/.ghostwright/adapters/s.gguf" } });
  await commandTable(host)["ghostwright.distill"]();
  assert.deepEqual(calls, ["server:ghostwright.distill", "refresh"]);
});

test("a served student shows its share of the teacher's exact match and its speed-up", () => {
  const view = statusView(
    {
      state: "ready",
      model: "distill-1.gguf",
      adapter: null,
      student: { exact_match: 0.155, retained: 0.912, speedup: 1.74 },
      teacher: { exact_match: 0.17 },
    },
    true,
  );
  assert.match(view.tooltip, /distilled student: 91% of the teacher's exact match \(17\.0% -> 15\.5%\), 1\.74x its speed/);
});

test("the learning-loop commands run the server's jobs", async () => {
  const { host, calls } = fakeHost({
    "ghostwright.trainPreferences": { installed: null },
    "ghostwright.trainEmbedder": { installed: "/repo/.ghostwright/embedders/e.gguf" },
  });
  const table = commandTable(host);
  await table["ghostwright.learnFromFeedback"]();
  await table["ghostwright.trainEmbedder"]();
  assert.deepEqual(calls, [
    "server:ghostwright.trainPreferences",
    "refresh",
    "server:ghostwright.trainEmbedder",
    "refresh",
  ]);
});
