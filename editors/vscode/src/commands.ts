// The command palette's commands and what each one does. No `vscode` import: the editor and
// the language client come in through `CommandHost`, so the wiring is unit-tested.

export interface CommandHost {
  /** workspace/executeCommand on the server. */
  executeServerCommand(command: string, args?: unknown[]): Promise<unknown>;
  restartServer(): Promise<void>;
  setEnabled(enabled: boolean): Promise<void>;
  isEnabled(): boolean;
  showInformation(message: string): void;
  showError(message: string): void;
  refreshStatus(status?: unknown): void;
}

export type CommandTable = Record<string, () => Promise<void>>;

/** Server-side command names (the server registers these). */
export const SERVER_COMMANDS = {
  status: "ghostwright.status",
  reindex: "ghostwright.reindex",
  train: "ghostwright.train",
  distill: "ghostwright.distill",
  trainPreferences: "ghostwright.trainPreferences",
  trainEmbedder: "ghostwright.trainEmbedder",
};

export function commandTable(host: CommandHost): CommandTable {
  const run = async (name: string, done: (result: unknown) => void) => {
    try {
      done(await host.executeServerCommand(name));
    } catch (error) {
      host.showError(`ghostwright: ${name} failed: ${messageOf(error)}`);
    }
  };
  return {
    // The server runs the fine-tune in a child process, shows its progress ($/progress, with a
    // Cancel button) and says how it ended (installed, refused by the gate, cancelled, failed).
    "ghostwright.fineTune": () => run(SERVER_COMMANDS.train, () => host.refreshStatus()),
    // The same for distillation: a faster student of the served model, installed only when it
    // keeps enough of the teacher's held-out exact match.
    "ghostwright.distill": () => run(SERVER_COMMANDS.distill, () => host.refreshStatus()),
    // The learning loop: DPO on what the feedback log says was kept over what was offered, and
    // the retrieval embedder taught the workspace's own code (the server reindexes with it).
    "ghostwright.learnFromFeedback": () =>
      run(SERVER_COMMANDS.trainPreferences, () => host.refreshStatus()),
    "ghostwright.trainEmbedder": () =>
      run(SERVER_COMMANDS.trainEmbedder, () => host.refreshStatus()),
    "ghostwright.reindex": () =>
      run(SERVER_COMMANDS.reindex, (index) => {
        host.refreshStatus();
        host.showInformation(`ghostwright: index ${describe(index)}`);
      }),
    "ghostwright.showStatus": () =>
      run(SERVER_COMMANDS.status, (status) => {
        host.refreshStatus(status);
        host.showInformation(`ghostwright: ${JSON.stringify(status)}`);
      }),
    "ghostwright.toggle": async () => {
      const enabled = !host.isEnabled();
      await host.setEnabled(enabled);
      host.refreshStatus();
      host.showInformation(`ghostwright: completions ${enabled ? "on" : "off"}`);
    },
    "ghostwright.restart": async () => {
      await host.restartServer();
      host.refreshStatus();
    },
  };
}

function describe(index: unknown): string {
  if (index && typeof index === "object" && "state" in index) {
    const value = index as { state: string; files?: number; chunks?: number };
    return value.files === undefined
      ? value.state
      : `${value.state}: ${value.files} files, ${value.chunks} chunks`;
  }
  return String(index);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
