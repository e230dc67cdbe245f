"""`ghostwright.train` and `ghostwright.distill` from the editor: a real child process (toy size,
the smallest real model, gemma-3-270m), `$/progress` with steps and ETA, the gate, the install
the server then switches to, and cancel. The server itself runs the fake backend; the child
trains and measures the real model."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.test_lsp_fake import open_workspace

pytest.importorskip("peft")
pytestmark = [pytest.mark.model, pytest.mark.e2e]

SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]
SOURCE = '''def area(width, height):
    """Return the area."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''
TOY_RECIPE = """
model: gemma-3-270m
batch_size: 2
max_tokens: 64
lr: 1.0e-3
warmup_steps: 1
checkpoint_every: 1
eval_every: 0
replay_share: 0
lora: {rank: 2, alpha: 4, dropout: 0.0, targets: [q_proj, v_proj]}
"""


TOY_DISTILL = """
model: gemma-3-270m
batch_size: 2
max_tokens: 64
max_steps: 2
teacher_examples: 8
lr: 1.0e-5
keep_layers: 16
quantization: f16
checkpoint_every: 1
eval_every: 0
replay_share: 0
"""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    for number in range(6):
        (root / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    (root / "toy.yaml").write_text(TOY_RECIPE)
    (root / "distill.yaml").write_text(TOY_DISTILL)
    # `default` rather than `auto`: a student then replaces the model (the fake backend cannot
    # weigh tiers the way `auto` does; tests/unit/test_calibration.py covers that).
    await open_workspace(lsp_client, root, model="default")
    yield
    await lsp_client.shutdown_session()


async def train(client: LanguageClient, command: str = "ghostwright.train", **arguments) -> dict:
    params = types.ExecuteCommandParams(command=command, arguments=[arguments])
    return await client.workspace_execute_command_async(params)


def reports_titled(client: LanguageClient, title: str) -> tuple[str, list]:
    for token, reports in client.progress_reports.items():
        if any(isinstance(r, types.WorkDoneProgressBegin) and r.title == title for r in reports):
            return token, reports
    return "", []


async def test_bad_arguments_get_one_error_message(client: LanguageClient):
    assert "stage must be" in (await train(client, stage="c"))["error"]
    assert "maxSteps must be" in (await train(client, maxSteps=0))["error"]
    assert "minRetained must be" in (await train(client, minRetained=0.5))["error"]  # train
    distill = "ghostwright.distill"
    assert "stage must be" in (await train(client, distill, stage="a"))["error"]
    assert "minRetained must be" in (await train(client, distill, minRetained=2))["error"]
    preferences, embedder = "ghostwright.trainPreferences", "ghostwright.trainEmbedder"
    assert "stage must be" in (await train(client, preferences, stage="a"))["error"]
    assert "only resume and force" in (await train(client, embedder, maxSteps=5))["error"]
    messages = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert any("stage must be 'a' or 'b'" in message for message in messages)


async def test_preference_stage_and_embedder_say_why_they_cannot_run(client: LanguageClient):
    """Real child processes that stop early: no Stage B adapter yet; too few retrieval pairs."""
    result = await train(client, "ghostwright.trainPreferences")
    assert "run `ghostwright train` first" in result["error"]
    result = await train(client, "ghostwright.trainEmbedder")
    assert "too few retrieval pairs" in result["error"]


async def test_distill_reports_progress_installs_and_status_shows_teacher_and_student(
    client: LanguageClient,
):
    config = str(client.root / "distill.yaml")
    result = await train(client, "ghostwright.distill", config=config, gateCases=4, minRetained=0)
    assert result["installed"] and result["check"]["passed"], result
    _, reports = reports_titled(client, "ghostwright: distilling a faster student")
    messages = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    assert "the teacher labels the training data, shards: 1/1" in messages
    assert any(m.startswith("step 2/2, loss ") for m in messages)
    percents = [r.percentage for r in reports if getattr(r, "percentage", None) is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    for _ in range(200):  # the adapter watcher polls every 2 s
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ghostwright.status")
        )
        if "student" in status:
            break
        await asyncio.sleep(0.1)
    assert status["student"]["file"] == Path(result["installed"]).name
    assert status["student"]["retained"] is not None and status["student"]["cases"] == 4
    assert status["teacher"]["exact_match"] == result["gate"]["before"]["exact_match"]
    infos = [m.message for m in client.messages if m.type == types.MessageType.Info]
    assert any(message.startswith("ghostwright: distilled student installed") for message in infos)
    assert any(m.startswith("ghostwright: now using the distilled student") for m in infos)


async def test_fine_tune_reports_progress_installs_and_is_picked_up(client: LanguageClient):
    config = str(client.root / "toy.yaml")
    result = await train(client, maxSteps=2, config=config, gateCases=4, force=True)
    assert result["installed"] and result["check"]["passed"], result
    assert result["gate"]["cases"] == 4
    _, reports = reports_titled(client, "ghostwright: fine-tuning")
    messages = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    assert any(m.startswith("step 2/2, loss ") and "ETA 0 min 00 s" in m for m in messages)
    assert any(m == "measuring the new model, held-out holes: 4/4" for m in messages)
    percents = [r.percentage for r in reports if getattr(r, "percentage", None) is not None]
    assert percents == sorted(percents) and percents[-1] == 100
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and reports[-1].message == "done"
    for _ in range(200):  # the adapter watcher polls every 2 s
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ghostwright.status")
        )
        if status["adapter"] and Path(status["adapter"]).name == Path(result["installed"]).name:
            break
        await asyncio.sleep(0.1)
    assert status["adapter"] and status["adapter_gain"] is not None and not status["training"]
    infos = [m.message for m in client.messages if m.type == types.MessageType.Info]
    assert any(message.startswith("ghostwright: fine-tune installed") for message in infos)


async def test_cancel_stops_the_child_and_keeps_checkpoints(client: LanguageClient):
    config = str(client.root / "toy.yaml")
    running = asyncio.ensure_future(train(client, maxSteps=500, config=config))
    token = ""
    for _ in range(1200):  # until the first optimizer step is reported
        token, reports = reports_titled(client, "ghostwright: fine-tuning")
        if any(getattr(r, "message", "") and r.message.startswith("step ") for r in reports):
            break
        await asyncio.sleep(0.1)
    assert token, "the fine-tune never reported a step"
    busy = await train(client, maxSteps=1, config=config)
    assert busy["error"] == "a fine-tune is already running"
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert await asyncio.wait_for(running, 60) == {"cancelled": True}
    runs = list((client.root / ".ghostwright" / "runs").glob("stage-b-*"))
    assert runs and list(runs[-1].glob("checkpoint-*.pt"))
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["training"] is False
