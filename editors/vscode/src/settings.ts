// Which settings belong to the server, and how the server is started. No `vscode` import:
// these functions are unit-tested in plain Node.

/** Settings the extension itself uses; every other `ghostwright.*` setting is the server's. */
export const CLIENT_SETTINGS = new Set(["enabled", "server_command", "python_path"]);

export interface ServerCommand {
  command: string;
  args: string[];
}

/** The command that starts `ghostwright serve`, from the two client settings. */
export function serverCommand(configured: string[], pythonPath: string): ServerCommand {
  if (configured.length > 0) {
    return { command: configured[0], args: configured.slice(1) };
  }
  if (pythonPath) {
    return { command: pythonPath, args: ["-m", "ghostwright.server", "serve"] };
  }
  return { command: "ghostwright", args: ["serve"] };
}

/**
 * The server's settings out of everything under `ghostwright.*`: unset values stay out, so the
 * project's `.ghostwright.toml` decides them, and client settings never reach the server.
 */
export function serverSettings(
  values: Record<string, unknown>,
  isSet: (key: string) => boolean,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (!CLIENT_SETTINGS.has(key) && isSet(key) && typeof value !== "function") {
      result[key] = value;
    }
  }
  return result;
}
