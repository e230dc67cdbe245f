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
  /** Set when a distilled student is served: its figures beside its teacher's. */
  student?: { exact_match: number | null; retained: number | null; speedup: number | null };
  teacher?: { exact_match: number | null };
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
    ...studentLines(status),
  ].join("\n");
  return { text: parts.join(" · "), tooltip };
}

function studentLines(status: ServerStatus): string[] {
  const student = status.student;
  if (!student || student.retained == null || student.speedup == null) {
    return [];
  }
  const percent = (value: number | null | undefined) =>
    value == null ? "-" : `${(value * 100).toFixed(1)}%`;
  return [
    `distilled student: ${Math.round(student.retained * 100)}% of the teacher's exact match ` +
      `(${percent(status.teacher?.exact_match)} -> ${percent(student.exact_match)}), ` +
      `${student.speedup.toFixed(2)}x its speed`,
  ];
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
