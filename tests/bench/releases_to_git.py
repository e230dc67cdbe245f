"""A package's released versions as a git history, for replaying real edits offline.

Run: python tests/bench/releases_to_git.py --package rich --out DIR WHEEL [WHEEL ...]

Machines without a git host still reach the package registry: `pip download rich==X --no-deps`
gives each release, and consecutive releases differ by the edits made between them. Each wheel's
copy of the package becomes one commit, in the order given, so `git diff` between commits shows
what was written in between.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", required=True, help="the import name (a top-level folder)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("wheels", nargs="+", type=Path)
    args = parser.parse_args()
    if args.out.exists():
        print(f"{args.out} exists; choose a new folder", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True)
    git = ["git", "-C", str(args.out), "-c", "user.name=releases", "-c", "user.email=r@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    for wheel in args.wheels:
        shutil.rmtree(args.out / args.package, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            members = [name for name in archive.namelist() if name.startswith(f"{args.package}/")]
            archive.extractall(args.out, members)
        version = wheel.name.split("-")[1]
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"{args.package} {version}"], check=True)
        print(f"committed {args.package} {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
