// Activation: start `ghostwright serve` through vscode-languageclient, register the commands,
// keep the status-bar item current. Every model decision stays on the server.

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

import { CommandHost, SERVER_COMMANDS, commandTable } from "./commands";
import { FEEDBACK_COMMAND, FeedbackTracker, itemsOf } from "./feedback";
import { serverCommand, serverSettings } from "./settings";
import { ServerStatus, statusView } from "./status";

const SECTION = "ghostwright";
const STATUS_EVERY_MS = 5000;
// The cursor has rested this long: the server evaluates the window there before anyone asks.
const PREFILL_AFTER_MS = 300;
let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("ghostwright", { log: true });
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = "ghostwright.showStatus";
  item.show();
  context.subscriptions.push(output, item);

  const refreshStatus = async (known?: unknown) => {
    const status = (known as ServerStatus | undefined) ?? (await fetchStatus());
    const view = statusView(status, isEnabled());
    item.text = view.text;
    item.tooltip = view.tooltip;
  };
  const host: CommandHost = {
    executeServerCommand: async (command, args = []) => {
      if (!client?.isRunning()) {
        throw new Error("the server is not running");
      }
      return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
    },
    restartServer: async () => {
      await client?.stop();
      client = createClient(output);
      await client.start();
    },
    setEnabled: (enabled) =>
      Promise.resolve(settings().update("enabled", enabled, vscode.ConfigurationTarget.Global)),
    isEnabled,
    showInformation: (message) => void vscode.window.showInformationMessage(message),
    showError: (message) => void vscode.window.showErrorMessage(message),
    refreshStatus: (status) => void refreshStatus(status),
  };
  for (const [id, run] of Object.entries(commandTable(host))) {
    context.subscriptions.push(vscode.commands.registerCommand(id, run));
  }
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      if (["server_command", "python_path"].some((k) => event.affectsConfiguration(`${SECTION}.${k}`))) {
        await host.restartServer();
      } else if (client?.isRunning()) {
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { [SECTION]: currentServerSettings() },
        });
      }
      void refreshStatus();
    }),
  );
  let prefillTimer: ReturnType<typeof setTimeout> | undefined;
  const prefillSoon = (editor: vscode.TextEditor | undefined) => {
    clearTimeout(prefillTimer);
    if (editor === undefined || !isEnabled()) {
      return;
    }
    prefillTimer = setTimeout(() => {
      if (!client?.isRunning() || vscode.window.activeTextEditor !== editor) {
        return;
      }
      const position = editor.selection.active;
      void client.sendNotification("ghostwright/prefill", {
        textDocument: { uri: client.code2ProtocolConverter.asUri(editor.document.uri) },
        position: { line: position.line, character: position.character },
      });
    }, PREFILL_AFTER_MS);
  };
  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor(prefillSoon),
    vscode.window.onDidChangeTextEditorSelection((event) => prefillSoon(event.textEditor)),
    { dispose: () => clearTimeout(prefillTimer) },
  );
  const timer = setInterval(() => void refreshStatus(), STATUS_EVERY_MS);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });

  client = createClient(output);
  try {
    await client.start();
  } catch (error) {
    void vscode.window.showErrorMessage(
      `ghostwright: the server did not start (${String(error)}); set ghostwright.server_command`,
    );
  }
  void refreshStatus();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

function createClient(output: vscode.LogOutputChannel): LanguageClient {
  const config = settings();
  const { command, args } = serverCommand(
    config.get<string[]>("server_command", []),
    config.get<string>("python_path", ""),
  );
  const serverOptions: ServerOptions = { command, args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: { [SECTION]: currentServerSettings() },
    outputChannel: output,
    middleware: {
      // The toggle lives here, so turning completions off costs the server nothing.
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        feedback.settle();
        if (!isEnabled()) {
          return null;
        }
        const result = await next(document, position, context, token);
        feedback.shown(itemsOf(result));
        return result;
      },
    },
  };
  const created = new LanguageClient(SECTION, "ghostwright", serverOptions, clientOptions);
  const feedback = new FeedbackTracker((args) =>
    created.sendRequest(ExecuteCommandRequest.type, { command: FEEDBACK_COMMAND, arguments: args }),
  );
  return created;
}

async function fetchStatus(): Promise<ServerStatus | undefined> {
  if (!client?.isRunning()) {
    return undefined;
  }
  try {
    const params = { command: SERVER_COMMANDS.status, arguments: [] };
    return (await client.sendRequest(ExecuteCommandRequest.type, params)) as ServerStatus;
  } catch {
    return undefined;
  }
}

function settings(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function isEnabled(): boolean {
  return settings().get<boolean>("enabled", true);
}

function currentServerSettings(): Record<string, unknown> {
  const config = settings();
  const isSet = (key: string) => {
    const value = config.inspect(key);
    return [value?.globalValue, value?.workspaceValue, value?.workspaceFolderValue].some(
      (v) => v !== undefined,
    );
  };
  return serverSettings({ ...config } as Record<string, unknown>, isSet);
}
