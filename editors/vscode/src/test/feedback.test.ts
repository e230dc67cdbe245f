import assert from "node:assert/strict";
import { test } from "node:test";

import { FeedbackTracker, itemsOf } from "../feedback";

function tracker() {
  const sent: unknown[][] = [];
  return { sent, feedback: new FeedbackTracker(async (args) => void sent.push(args)) };
}

const item = (id: string) => ({ command: { command: "ghostwright.feedback", arguments: [id, "accepted"] } });

test("the suggestion still open at the next request is reported dismissed, once", () => {
  const { sent, feedback } = tracker();
  feedback.shown([item("a")]);
  feedback.settle();
  feedback.settle();
  assert.deepEqual(sent, [["a", "dismissed"]]);
});

test("only the first item is shown; items without our command are not tracked", () => {
  const { sent, feedback } = tracker();
  feedback.shown([item("a"), item("b")]);
  feedback.settle();
  feedback.shown([{ command: { command: "other", arguments: ["x"] } }]);
  feedback.settle();
  feedback.shown([]);
  feedback.settle();
  feedback.shown(null);
  feedback.settle();
  assert.deepEqual(sent, [["a", "dismissed"]]);
});

test("a failed report is swallowed", async () => {
  const feedback = new FeedbackTracker(() => Promise.reject(new Error("server gone")));
  feedback.shown([item("a")]);
  feedback.settle();
  await new Promise((resolve) => setImmediate(resolve));
});

test("provider results come as a list or as { items }", () => {
  assert.equal(itemsOf([item("a")]).length, 1);
  assert.equal(itemsOf({ items: [item("a"), item("b")] }).length, 2);
  assert.deepEqual(itemsOf(null), []);
  assert.deepEqual(itemsOf(undefined), []);
});
