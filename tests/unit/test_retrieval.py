"""Retrieval for completions: what is chosen, what is left out, budgets and stability."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ghostwright.indexer.service import IndexService
from ghostwright.server.backends.fake import FakeBackend
from ghostwright.server.pipeline.complete import Completer, CompletionRequest
from ghostwright.server.pipeline.context import Budget, build_window
from ghostwright.server.pipeline.retrieval import RetrievalOptions, Retriever, imported_names
from ghostwright.server.prompt_formats import PREFIX_ONLY_FORMAT

HELPERS = "def scale_price(amount, factor):\n    return round(amount * factor, 2)\n"
OTHER = "def unrelated_thing():\n    return 'elsewhere'\n"


def words(text: str) -> int:
    return len(text.split()) + text.count("\n")


@pytest.fixture
def index(tmp_path: Path, hash_embedder):
    (tmp_path / "helpers.py").write_text(HELPERS)
    (tmp_path / "other.py").write_text(OTHER)
    main = "from helpers import scale_price\n\n\ndef checkout(cart):\n    return 1\n"
    (tmp_path / "main.py").write_text(main)
    service = IndexService(tmp_path, hash_embedder)
    service.sync()
    yield service
    service.close()


def retriever(index: IndexService, **options) -> Retriever:
    return Retriever(index, PREFIX_ONLY_FORMAT, words, RetrievalOptions(**options))


def window_at(text: str, line: int):
    return build_window(text, line, len(text.split("\n")[line]), Budget(), words)


def test_imported_names():
    python = "from a.b import (One, Two as Three)\nfrom c import four\nimport os\n"
    assert imported_names(python) == ["One", "Two", "four"]
    js = "import Default, { named, other as alias } from './x';\nimport { solo } from 'y'\n"
    assert imported_names(js) == ["Default", "named", "other", "solo"]


def test_imported_definitions_come_first_and_the_own_window_is_left_out(index: IndexService):
    text = (index.root / "main.py").read_text()
    found = retriever(index).context(text, 4, str(index.root / "main.py"), window_at(text, 4))
    paths = [item.path for item in found]
    assert paths[-1] == "helpers.py"  # most relevant last, next to the cursor
    assert "main.py" not in paths  # the whole file is inside the prompt window


def test_snippets_fit_the_token_budget(index: IndexService):
    text = (index.root / "main.py").read_text()
    budget = words(PREFIX_ONLY_FORMAT.context_cost_text(_item(HELPERS), "main.py"))
    found = retriever(index, tokens=budget).context(
        text, 4, str(index.root / "main.py"), window_at(text, 4)
    )
    assert [item.path for item in found] == ["helpers.py"]
    assert retriever(index, tokens=3).context(text, 4, "main.py", window_at(text, 4)) == []


def test_snippets_stay_the_same_while_the_window_start_does(index: IndexService):
    text = (index.root / "main.py").read_text()
    r = retriever(index)
    first = r.context(text, 4, "main.py", window_at(text, 4))
    edited = text.replace("return 1", "return scale_price(")
    assert r.context(edited, 4, "main.py", window_at(edited, 4)) is first


def test_slow_retrieval_is_skipped_then_served_from_the_cache(index: IndexService, monkeypatch):
    search = index.search

    def slow_search(*args, **kwargs):
        time.sleep(0.3)
        return search(*args, **kwargs)

    monkeypatch.setattr(index, "search", slow_search)
    r = retriever(index, time_budget_s=0.02)
    text = (index.root / "main.py").read_text()
    started = time.perf_counter()
    assert r.context(text, 4, "main.py", window_at(text, 4)) == []
    assert time.perf_counter() - started < 0.2  # the completion did not wait
    time.sleep(0.5)
    assert [item.path for item in r.context(text, 4, "main.py", window_at(text, 4))]


def test_a_failing_index_costs_the_snippets_not_the_completion(index: IndexService, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(index, "search", broken)
    text = (index.root / "main.py").read_text()
    assert retriever(index).context(text, 4, "main.py", window_at(text, 4)) == []


def test_the_completer_puts_snippets_before_the_code(index: IndexService):
    backend = FakeBackend(" 1\n")
    completer = Completer(backend, retriever=retriever(index))
    text = "from helpers import scale_price\n\ntotal = "
    completer.complete(CompletionRequest(text, 2, 8, path=str(index.root / "new.py")))
    assert backend.prompts[-1].startswith("# file: ")
    assert backend.prompts[-1].endswith("from helpers import scale_price\n\ntotal =")
    request = CompletionRequest(text, 2, 8, path="new.py", retrieval=False)
    completer.complete(request)
    assert backend.prompts[-1] == "from helpers import scale_price\n\ntotal ="


def _item(text: str):
    from ghostwright.server.prompt_formats import ContextFile

    return ContextFile("helpers.py", text)
