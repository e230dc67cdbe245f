"""`python -m ghostwright.training.data REPO OUT [--format F]`: build a dataset, print counts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import TRAINED_FIM, select_format
from ghostwright.training.data.build import DataOptions, build_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--format", default=TRAINED_FIM, help="prompt format to render with")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        folder = build_dataset(
            args.repo, args.out, select_format(args.format, None), DataOptions(seed=args.seed)
        )
    except (GhostwrightError, ValueError) as exc:
        print(f"ghostwright: error: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((folder / "manifest.json").read_text())
    print(f"dataset: {folder}")
    print(json.dumps({key: manifest[key] for key in ("files", "samples", "duplicates")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
