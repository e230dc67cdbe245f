"""Index build, incremental updates, deletes and renames, repair of damaged state."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from ghostwright.indexer.database import FAISS_FILE, META_FILE
from ghostwright.indexer.lexical import discriminating
from ghostwright.indexer.service import FileRules, IndexService

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "prices.py").write_text(
        "def scale_price(amount, factor):\n    return round(amount * factor, 2)\n\n\n"
        "def discount(amount):\n    return scale_price(amount, 0.9)\n"
    )
    (root / "pkg" / "cart.py").write_text(
        "from pkg.prices import discount\n\n\nclass Cart:\n    def total(self):\n"
        "        return sum(discount(x) for x in self.items)\n"
    )
    (root / "pkg" / "settings.py").write_text(
        f'def connect():\n    return Client(key="{AWS_KEY}")\n\n\ndef name():\n    return "x"\n'
    )
    (root / "README.md").write_text("# Demo\n\nPrices and carts.\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / "logo.png").write_bytes(b"\x89PNG\0\0\0binary")
    (root / "huge.txt").write_text("x" * 2048)
    (root / "link.py").symlink_to(root / "pkg" / "cart.py")
    return root


def open_service(root: Path, embedder, **rules) -> IndexService:
    return IndexService(root, embedder, FileRules(max_bytes=1024, **rules))


def consistent(service: IndexService) -> bool:
    with service.store._lock:
        ids = {row[0] for row in service.store._db.execute("SELECT id FROM chunks")}
    return ids == service.store.vectors.ids()


def test_full_build_follows_the_file_rules(tmp_path: Path, hash_embedder):
    service = open_service(make_repo(tmp_path), hash_embedder)
    stats = service.sync()
    assert stats.files == 4  # three .py files and the README
    assert stats.skipped == {"binary": 1, "secret file": 1, "symlink": 1, "too large": 1}
    assert stats.secret_chunks == 1  # connect() holds an access key
    texts = [hit.chunk.text for hit in service.search("connect name", k=20)]
    assert texts and not any(AWS_KEY in text for text in texts)
    assert consistent(service)
    assert (tmp_path / ".ghostwright" / ".gitignore").read_text().strip().endswith("*")
    service.close()


def test_updates_touch_only_what_changed(tmp_path: Path, hash_embedder):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    assert service.sync().embedded == 0  # nothing changed: nothing embedded
    prices = root / "pkg" / "prices.py"
    prices.write_text(prices.read_text() + "\n\ndef tax(amount):\n    return amount * 0.2\n")
    stats = service.update([str(prices)])
    assert (stats.changed, stats.embedded) == (1, 1)  # only the new function
    assert "tax" in [hit.chunk.symbol for hit in service.search("tax amount", k=5)]
    os.utime(prices)  # touched, same content: no work
    assert service.update([str(prices)]).embedded == 0
    assert consistent(service)
    service.close()


def test_deletes_and_renames(tmp_path: Path, hash_embedder):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    (root / "pkg" / "prices.py").rename(root / "pkg" / "pricing.py")
    stats = service.update([str(root / "pkg" / "prices.py"), str(root / "pkg" / "pricing.py")])
    assert stats.removed == 1 and stats.changed == 1
    assert stats.embedded == 0 and stats.reused > 0  # the embedding cache knew every chunk
    (root / "README.md").unlink()
    assert service.sync().removed == 1
    paths = {hit.chunk.path for hit in service.search("price discount", k=20)}
    assert "pkg/pricing.py" in paths and "pkg/prices.py" not in paths
    assert consistent(service)
    service.close()


def test_exclude_and_include_patterns(tmp_path: Path, hash_embedder):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder, exclude=("pkg/settings.py",), include=("*.py",))
    stats = service.sync()
    # settings.py by exclusion; README.md, .env, logo.png and huge.txt are not *.py
    assert stats.files == 2 and stats.skipped["excluded"] == 5
    service.close()


def test_a_lagging_faiss_file_is_repaired_from_sqlite_without_embedding(
    tmp_path: Path, hash_embedder, caplog
):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    before = [h.chunk.id for h in service.search("cart total", k=5)]
    service.store.vectors.save(root / ".ghostwright" / FAISS_FILE)
    (root / "pkg" / "extra.py").write_text("def extra():\n    return 1\n")
    service.update([str(root / "pkg" / "extra.py")])
    service.store._dirty = False  # as if killed before the FAISS copy was written
    service.store._db.close()
    calls = hash_embedder.calls
    with caplog.at_level(logging.WARNING):
        reopened = open_service(root, hash_embedder)
    assert "out of date (1 missing, 0 stale)" in caplog.text
    assert hash_embedder.calls == calls
    assert consistent(reopened)
    assert [h.chunk.id for h in reopened.search("cart total", k=5)][:1] == before[:1]
    reopened.close()


@pytest.mark.parametrize("damage", ["truncate-faiss", "garbage-faiss", "garbage-sqlite"])
def test_damaged_files_are_rebuilt_with_a_warning(
    tmp_path: Path, hash_embedder, caplog, damage: str
):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    service.close()
    faiss_path, meta_path = root / ".ghostwright" / FAISS_FILE, root / ".ghostwright" / META_FILE
    if damage == "truncate-faiss":
        faiss_path.write_bytes(faiss_path.read_bytes()[:100])
    elif damage == "garbage-faiss":
        faiss_path.write_bytes(b"not a faiss index" * 10)
    else:
        for suffix in ("-wal", "-shm"):
            Path(f"{meta_path}{suffix}").unlink(missing_ok=True)
        meta_path.write_bytes(b"SQLite format 3\0" + b"\xff" * 4000)
    with caplog.at_level(logging.WARNING):
        reopened = open_service(root, hash_embedder)
        stats = reopened.sync()
    assert "damaged" in caplog.text or "rebuilding" in caplog.text
    assert stats.files == 4 and consistent(reopened)
    reopened.close()


def test_another_embedder_means_a_rebuild(tmp_path: Path, hash_embedder, caplog):
    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    service.close()
    hash_embedder.id = "hash-test-v2"
    with caplog.at_level(logging.WARNING):
        reopened = open_service(root, hash_embedder)
    assert "another embedder" in caplog.text
    assert reopened.store.counts() == (0, 0)
    assert reopened.sync().files == 4
    reopened.close()


def test_files_vanishing_mid_scan_and_symlink_loops(tmp_path: Path, hash_embedder):
    root = make_repo(tmp_path)
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to(root / "loop")
    service = open_service(root, hash_embedder)

    def delete_the_readme(done: int, total: int, path: str) -> None:
        (root / "README.md").unlink(missing_ok=True)

    stats = service.sync(progress=delete_the_readme)
    assert stats.files == 3
    assert consistent(service)
    service.close()


def test_a_tree_of_ten_thousand_files(tmp_path: Path, hash_embedder):
    for folder in range(100):
        directory = tmp_path / f"d{folder}"
        directory.mkdir()
        for number in range(100):
            (directory / f"m{number}.py").write_text(
                f"def f{folder}_{number}():\n    return {number}\n"
            )
    service = IndexService(tmp_path, hash_embedder)
    stats = service.sync()
    assert (stats.files, stats.chunks) == (10_000, 10_000)
    assert consistent(service)
    service.close()


def test_sqlite_is_in_wal_mode(tmp_path: Path, hash_embedder):
    service = open_service(make_repo(tmp_path), hash_embedder)
    service.close()
    db = sqlite3.connect(tmp_path / ".ghostwright" / META_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_term_counts_follow_inserts_and_deletes(tmp_path: Path, hash_embedder, monkeypatch):
    from collections import Counter

    root = make_repo(tmp_path)
    service = open_service(root, hash_embedder)
    service.sync()
    (root / "pkg" / "cart.py").unlink()
    prices = root / "pkg" / "prices.py"
    prices.write_text(prices.read_text().replace("discount", "markdown"))
    service.sync()
    db = service.store._db
    expected = Counter(
        term for (terms,) in db.execute("SELECT terms FROM lexical") for term in set(terms.split())
    )
    stored = {term: df for term, df in db.execute("SELECT term, df FROM term_df") if df}
    assert stored == dict(expected)
    # A term in more chunks than the limit ranks nothing and is left out of lexical queries.
    monkeypatch.setattr("ghostwright.indexer.lexical.COMMON_TERM_MIN_CHUNKS", 1)
    assert expected["amount"] >= 2 and expected["markdown"] == 1
    terms = discriminating(db, ["amount", "markdown", "absent"], service.store._chunk_count)
    assert terms == ["markdown"]
    service.close()
