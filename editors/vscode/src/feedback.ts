// What became of each inline suggestion, for the server's feedback log (`.ghostwright/`).
// The server gives every item the command `ghostwright.feedback [id, "accepted"]`, which VS Code
// runs when the user accepts all of it. VS Code has no stable event for a dismissal or a partial
// (word or line) acceptance, so the suggestion still open when the next one is asked for is
// reported as dismissed; the server counts it partial when the document shows its beginning was
// taken, and ignores it when the acceptance came first. No `vscode` import, so it is unit-tested.

export const FEEDBACK_COMMAND = "ghostwright.feedback";

/** The part of an inline completion item this needs. */
export interface OfferedItem {
  command?: { command: string; arguments?: unknown[] };
}

export class FeedbackTracker {
  private open: string | undefined;

  constructor(private readonly send: (args: unknown[]) => Promise<unknown>) {}

  /** Items about to be shown: remember the first one's id (the one VS Code shows). */
  shown(items: readonly OfferedItem[] | null | undefined): void {
    const command = items?.[0]?.command;
    const id = command?.command === FEEDBACK_COMMAND ? command.arguments?.[0] : undefined;
    this.open = typeof id === "string" ? id : undefined;
  }

  /** A new suggestion is asked for: the open one was not accepted in full (or already was). */
  settle(): void {
    const id = this.open;
    this.open = undefined;
    if (id !== undefined) {
      // A report that fails (the server restarting) loses one record, never a suggestion.
      this.send([id, "dismissed"]).catch(() => undefined);
    }
  }
}

/** The items of a provider result, which VS Code accepts as a list or as `{ items }`. */
export function itemsOf(result: unknown): OfferedItem[] {
  if (Array.isArray(result)) {
    return result as OfferedItem[];
  }
  const items = (result as { items?: unknown } | null | undefined)?.items;
  return Array.isArray(items) ? (items as OfferedItem[]) : [];
}
