"""The inspect_ai task, run by ``inspect_ai.eval`` with inspect's mock model scripted to call
rsigym's op tools: the episode lowers the wine task's loss and the scorer reports it."""
from __future__ import annotations

import json

import pytest

inspect_ai = pytest.importorskip("inspect_ai")

from inspect_ai.model import ModelOutput, ModelUsage, get_model  # noqa: E402

from rsigym.actions import OP_SPECS  # noqa: E402
from rsigym.integrations.inspect_task import rsigym_task  # noqa: E402

BETTER_WINE = {"kind": "classification", "model": "svc", "scale": True, "params": {"C": 10}}


def scripted_call(tool: str, arguments: dict) -> ModelOutput:
    output = ModelOutput.for_tool_call("mockllm/model", tool, arguments)
    # with its usage given, mockllm does not count tokens with tiktoken (whose tables it would download)
    output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return output


def scripted_outputs() -> list[ModelOutput]:
    return [
        scripted_call("write", {"path": "tasks/wine/config.json", "content": json.dumps(BETTER_WINE)}),
        scripted_call("evaluate", {}),
        scripted_call("submit", {}),
    ]


def test_inspect_eval_with_the_mock_model_lowers_the_loss_and_scores_it(tmp_path):
    model = get_model("mockllm/model", custom_outputs=scripted_outputs())
    [log] = inspect_ai.eval(rsigym_task("RSI-MLE-v0", suite="toy", tasks=["wine"], iterations=4), model=model,
                            log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    [sample] = log.samples
    [score] = sample.scores.values()
    summary = score.metadata
    assert summary["episode_over"] and not summary["masked"]
    assert score.value["loss"] < summary["start_loss"]
    assert score.value["loss_decrease"] == pytest.approx(summary["total_reward"])
    assert score.value["velocity"] > 0 and score.value["medals"] >= 1
    means = {result.name: result.metrics["mean"].value for result in log.results.scores}
    assert means == pytest.approx(score.value)  # one sample: each metric's mean is its value


def test_the_tools_are_rsigym_ops():
    from rsigym.integrations.inspect_task import EpisodeSession, op_tools
    from inspect_ai.tool import ToolDef

    session = EpisodeSession("RSI-MLE-v0", {"suite": "toy", "tasks": ["wine"], "iterations": 2}, seed=0)
    try:
        tools = {ToolDef(tool).name: ToolDef(tool) for tool in op_tools(session)}
    finally:
        session.close()
    assert set(tools) == set(OP_SPECS)
    assert tools["write"].parameters.required == ["path", "content"]
    assert set(tools["run"].parameters.properties) == set(OP_SPECS["run"].fields)
