"""`ghostwright feedback stats|export|purge`: the local feedback log of a repository."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ghostwright.server.config import project_root
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.feedback.log import FeedbackLog, feedback_path


def add_feedback_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    feedback = commands.add_parser(
        "feedback", help="show, export or delete the local log of suggestions and outcomes"
    )
    actions = feedback.add_subparsers(dest="action", required=True, parser_class=type(feedback))
    stats = actions.add_parser("stats", help="counts per outcome and the acceptance rate")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    export = actions.add_parser("export", help="every record as JSON lines")
    export.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    purge = actions.add_parser("purge", help="delete every record")
    purge.add_argument("--yes", action="store_true", help="do it (without: say what it would do)")
    trigger = actions.add_parser(
        "train-trigger", help="learn from the log where suggestions are rarely accepted"
    )
    trigger.add_argument("--json", action="store_true", help="print the report as JSON")
    for parser in (stats, export, purge, trigger):
        parser.add_argument("--repo", type=Path, help="the repository (default: this one)")
    feedback.set_defaults(run=run_feedback)
    return feedback


def run_feedback(args: argparse.Namespace) -> int:
    root = (args.repo or project_root(Path.cwd())).resolve()
    if args.repo is not None and not root.is_dir():
        raise GhostwrightError(f"no such repository: {args.repo}")
    path = feedback_path(root)
    if not path.is_file():
        print(f"no feedback recorded in {root}", file=sys.stderr)
        return 0
    log = FeedbackLog(path)
    try:
        if args.action == "stats":
            return _stats(log, args.json)
        if args.action == "export":
            return _export(log, args.out)
        if args.action == "train-trigger":
            return _train_trigger(log, root, args.json)
        return _purge(log, args.yes)
    finally:
        log.close()


def _stats(log: FeedbackLog, as_json: bool) -> int:
    stats = log.stats()
    if as_json:
        print(json.dumps({"log": str(log.path), **stats}))
        return 0
    outcomes = ", ".join(f"{count} {name}" for name, count in stats["outcomes"].items())
    rate = stats["acceptance_rate"]
    survival = stats["mean_survival"]
    print(f"{stats['shown']} suggestions shown ({stats['undecided']} without an outcome yet)")
    print(f"outcomes: {outcomes}")
    print(f"acceptance rate: {'-' if rate is None else f'{rate:.1%}'}")
    print(f"accepted text still there after 30 s: {'-' if survival is None else f'{survival:.1%}'}")
    return 0


def _export(log: FeedbackLog, out: Path | None) -> int:
    if out is None:
        log.export(sys.stdout)
        return 0
    try:
        with out.open("w", encoding="utf-8") as handle:
            count = log.export(handle)
    except OSError as exc:
        raise GhostwrightError(f"cannot write {out}: {exc.strerror}") from exc
    print(f"wrote {count} records to {out}", file=sys.stderr)
    return 0


def _train_trigger(log: FeedbackLog, root: Path, as_json: bool) -> int:
    from ghostwright.server.trigger import save_trigger, train_trigger, trigger_path

    trigger, report = train_trigger(log.rows())
    save_trigger(trigger, report, trigger_path(root))
    if as_json:
        print(json.dumps({"trigger": str(trigger_path(root)), **report}))
        return 0
    always, chosen = report["always"], report["chosen"]
    print(
        f"on the newest {report['held_out']} decided suggestions: threshold "
        f"{chosen['threshold']:.2f} shows {chosen['shown_share']:.0%} of them, keeps "
        f"{chosen['accepted_kept']:.0%} of the accepted ones; acceptance rate "
        f"{always['acceptance_rate']:.1%} -> {chosen['acceptance_rate']:.1%}"
    )
    print(f"saved {trigger_path(root)}; the server skips suggestions below the threshold")
    return 0


def _purge(log: FeedbackLog, confirmed: bool) -> int:
    if not confirmed:
        count = log.stats()["shown"]
        raise GhostwrightError(f"this deletes {count} records from {log.path}; add --yes to do it")
    print(f"deleted {log.purge()} records from {log.path}", file=sys.stderr)
    return 0
