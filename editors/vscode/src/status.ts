// The status-bar text and tooltip from `ghostwright.status`. No `vscode` import.

export interface IndexStatus {
  state: string;
  files?: number;
  chunks?: number;
}

export interface ServerStatus {
  state: string;
  model: string | null;
  adapter: string | null;
  latency_ms?: { p50: number | null; p95: number | null; count: number };
  index?: IndexStatus | string;
}

export interface StatusView {
  text: string;
  tooltip: string;
}

/** A short status-bar label: state or model, index size, median latency. */
export function statusView(status: ServerStatus | undefined, enabled: boolean): StatusView {
  if (!status) {
    return { text: "$(loading~spin) ghostwright", tooltip: "ghostwright: starting" };
  }
  const icon = !enabled ? "$(circle-slash)" : status.state === "ready" ? "$(sparkle)" : "$(sync~spin)";
  const model = status.model ? shortModel(status.model) : status.state;
  const parts = [`${icon} ${model}`];
  const index = typeof status.index === "string" ? { state: status.index } : status.index;
  if (index && index.state === "ready" && index.chunks !== undefined) {
    parts.push(`idx ${compact(index.chunks)}`);
  } else if (index && index.state === "building") {
    parts.push("indexing");
  }
  const p50 = status.latency_ms?.p50;
  if (p50 !== null && p50 !== undefined) {
    parts.push(`${Math.round(p50)} ms`);
  }
  const tooltip = [
    `ghostwright: ${enabled ? status.state : "completions off"}`,
    `model: ${status.model ?? "none"}`,
    `adapter: ${status.adapter ?? "none"}`,
    `index: ${index ? describeIndex(index) : "none"}`,
    `latency p50/p95: ${status.latency_ms?.p50 ?? "-"} / ${status.latency_ms?.p95 ?? "-"} ms`,
  ].join("\n");
  return { text: parts.join(" · "), tooltip };
}

function shortModel(model: string): string {
  return model.replace(/\.gguf$/, "").replace(/-q\d.*$/i, "");
}

function compact(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)}k` : String(value);
}

function describeIndex(index: IndexStatus): string {
  if (index.files === undefined) {
    return index.state;
  }
  return `${index.state}, ${index.files} files, ${index.chunks} chunks`;
}
