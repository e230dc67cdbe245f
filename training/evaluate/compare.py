"""`ghostwright eval compare`: M0 vs M1 vs M2 on the same cases, with uncertainty.

Reads each result JSON and its per-case JSONL; for every headline metric prints the mean with a
95% bootstrap interval, and the paired difference against the first result (same case ids only,
resampled together so case difficulty cancels out). Also draws a bar chart with the intervals.
"""

from __future__ import annotations

import json
from pathlib import Path

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.evaluate.metrics import bootstrap_interval, mean

HEADLINE = ("passed", "exact_match", "edit_similarity")
LABELS = {"passed": "pass@1"}


def load_result(path: Path) -> tuple[dict, dict[str, dict]]:
    """The summary and its cases keyed by case id."""
    try:
        report = json.loads(path.read_text())
        cases_file = Path(report["cases_file"])
        if not cases_file.is_absolute() and not cases_file.exists():
            cases_file = path.parent / cases_file.name
        lines = cases_file.read_text().splitlines()
    except (OSError, ValueError, KeyError) as exc:
        raise GhostwrightError(f"cannot read evaluation result {path}: {exc}") from exc
    cases = {row["case_id"]: row for row in map(json.loads, lines) if row}
    return report, cases


def paired_difference(
    first: dict[str, dict], other: dict[str, dict], metric: str, seed: int
) -> tuple[float, float, float, int]:
    """(mean of other - first, low, high, n) over the cases both scored."""
    shared = sorted(set(first) & set(other))
    deltas = [
        float(other[key]["scores"][metric]) - float(first[key]["scores"][metric])
        for key in shared
        if metric in first[key]["scores"] and metric in other[key]["scores"]
    ]
    low, high = bootstrap_interval(deltas, seed=seed)
    return mean(deltas), low, high, len(deltas)


def compare_reports(paths: list[Path], png: Path, seed: int = 0) -> str:
    """The Markdown comparison; the chart is written to `png`."""
    loaded = [load_result(path) for path in paths]
    metrics = [
        name
        for name in HEADLINE
        if all(any(name in row["scores"] for row in cases.values()) for _, cases in loaded)
    ]
    if not metrics:
        raise GhostwrightError("the results share no metric to compare")
    rows = [
        "| result | model | n | " + " | ".join(_label(m) for m in metrics) + " |",
        "|---|---|---|" + "---|" * len(metrics),
    ]
    chart: dict[str, list[tuple[float, float, float]]] = {m: [] for m in metrics}
    first_cases = loaded[0][1]
    for path, (report, cases) in zip(paths, loaded, strict=True):
        cells = []
        for metric in metrics:
            values = [
                float(row["scores"][metric]) for row in cases.values() if metric in row["scores"]
            ]
            value, (low, high) = mean(values), bootstrap_interval(values, seed=seed)
            chart[metric].append((value, low, high))
            cell = f"{value:.3f} [{low:.3f}, {high:.3f}]"
            if cases is not first_cases:
                delta, d_low, d_high, shared = paired_difference(first_cases, cases, metric, seed)
                cell += f"; Δ {delta:+.3f} [{d_low:+.3f}, {d_high:+.3f}] (n={shared})"
            cells.append(cell)
        name = report.get("adapter") or report.get("model", "?")
        rows.append(
            f"| {path.stem} | {name} | {report.get('n', len(cases))} | " + " | ".join(cells) + " |"
        )
    _draw(chart, [path.stem for path in paths], png)
    note = (
        "\nMeans with 95% bootstrap intervals; Δ is the paired difference against "
        f"{paths[0].stem} on the cases both results contain."
    )
    return "\n".join(rows) + "\n" + note


def _label(metric: str) -> str:
    return LABELS.get(metric, metric)


def _draw(chart: dict[str, list[tuple[float, float, float]]], names: list[str], png: Path) -> None:
    try:
        import matplotlib
    except ImportError as exc:
        raise GhostwrightError(
            "the chart needs matplotlib: pip install 'ghostwright[eval]'"
        ) from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2.5 + 1.6 * len(chart) * len(names) / 2, 4))
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        positions = [group + index * width for group in range(len(chart))]
        values = [chart[metric][index] for metric in chart]
        errors = [[v - low for v, low, _ in values], [high - v for v, _, high in values]]
        axes.bar(positions, [v for v, _, _ in values], width, yerr=errors, capsize=3, label=name)
    axes.set_xticks([group + 0.4 - width / 2 for group in range(len(chart))])
    axes.set_xticklabels([_label(metric) for metric in chart])
    axes.set_ylim(0, 1)
    axes.set_ylabel("score (95% bootstrap interval)")
    axes.legend()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(png, dpi=120)
    plt.close(figure)
