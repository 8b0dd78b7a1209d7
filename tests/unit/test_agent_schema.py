"""Tool schemas derived from signatures, docstrings and the metric registry; the model's arguments checked."""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest

from gpuwatch_desktop.agent.data import ClusterData
from gpuwatch_desktop.agent.toolkit import Answer, ArgumentError, Metric, make_tool
from gpuwatch_desktop.agent.tools import default_tools
from gpuwatch_desktop.core.metrics import GPU_METRICS


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


async def sample(data: ClusterData, name: str, count: int, share: float = 0.5, loud: bool = False,
                 mode: Literal["fast", "slow"] = "fast", colour: Colour = Colour.RED, metric: Metric = "gpu_util",
                 node: str | None = None) -> Answer:
    """Does a sample thing.

    Longer text of the description.

    Args:
        name: the name
        count: how many,
            spread over two lines
        share: a share
        loud: shout
        mode: speed
        colour: a colour
        metric: which metric
        node: only this node
    """
    return Answer("ok", None)


def schema() -> dict[str, Any]:
    return make_tool(sample, 1000).schema()


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    function = schema()["function"]
    assert function["name"] == "sample"
    assert function["description"] == "Does a sample thing. Longer text of the description."
    params = function["parameters"]
    assert params["required"] == ["name", "count"]
    props = params["properties"]
    assert props["name"] == {"type": "string", "description": "the name"}
    assert props["count"] == {"type": "integer", "description": "how many, spread over two lines"}
    assert props["share"] == {"type": "number", "description": "a share", "default": 0.5}
    assert props["loud"] == {"type": "boolean", "description": "shout", "default": False}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "description": "speed", "default": "fast"}
    assert props["colour"] == {"type": "string", "enum": ["red", "blue"], "description": "a colour", "default": "red"}
    assert props["node"] == {"type": "string", "description": "only this node"}
    assert "data" not in props


def test_metric_parameters_list_every_registry_key_with_its_unit() -> None:
    metric = schema()["function"]["parameters"]["properties"]["metric"]
    assert metric["enum"] == [m.key for m in GPU_METRICS]
    assert "gpu_temp (GPU temperature, °C)" in metric["description"]
    assert "fb_used (Memory used, MiB)" in metric["description"]
    assert "xid (Last XID error)" in metric["description"]


def test_every_default_tool_has_a_complete_schema() -> None:
    tools = default_tools()
    assert [t.name for t in tools] == ["cluster_status", "gpu_metrics", "metric_history", "active_alerts",
                                       "alert_history", "top_gpu_processes", "slurm_status", "slurm_jobs",
                                       "service_logs"]
    for tool in tools:
        function = tool.schema()["function"]
        assert function["description"] and not tool.mutating
        for name, prop in function["parameters"]["properties"].items():
            assert prop["description"], f"{tool.name}.{name}"
    history = next(t for t in tools if t.name == "metric_history").schema()["function"]["parameters"]
    assert history["required"] == ["metric", "node", "gpu"] and history["properties"]["range"]["default"] == "1h"


def test_an_undocumented_parameter_is_refused() -> None:
    async def bad(data: ClusterData, node: str) -> Answer:
        """No Args section."""
        return Answer("", None)

    with pytest.raises(TypeError, match="parameter 'node' is not documented"):
        make_tool(bad, 100)


def test_arguments_are_checked_and_converted() -> None:
    tool = make_tool(sample, 1000)
    bound = tool.bind({"name": "a", "count": "3", "share": 1, "loud": "true", "colour": "blue", "node": None})
    assert bound == {"name": "a", "count": 3, "share": 1.0, "loud": True, "mode": "fast", "colour": Colour.BLUE,
                     "metric": "gpu_util", "node": None}
    assert tool.bind({"name": "a", "count": 2.0})["count"] == 2


@pytest.mark.parametrize(("arguments", "message"), [
    ({"count": 1}, "missing required argument 'name'"),
    ({"name": "a", "count": "many"}, "count must be integer, got 'many'"),
    ({"name": "a", "count": 1.5}, "count must be integer, got 1.5"),
    ({"name": "a", "count": True}, "count must be integer, got True"),
    ({"name": 7, "count": 1}, "name must be string, got 7"),
    ({"name": "a", "count": 1, "share": "nan"}, "share must be number, got 'nan'"),
    ({"name": "a", "count": 1, "loud": "yes"}, "loud must be boolean, got 'yes'"),
    ({"name": "a", "count": 1, "mode": "medium"}, "mode must be one of ['fast', 'slow'], got 'medium'"),
    ({"name": "a", "count": 1, "colour": "green"}, "colour must be one of ['red', 'blue'], got 'green'"),
    ({"name": "a", "count": 1, "metric": "fan"}, "metric must be one of ['gpu_util',"),
    ({"name": "a", "count": 1, "gpu": 0}, "unexpected argument(s) gpu; sample takes: colour, count,"),
])
def test_bad_arguments_say_what_is_wrong(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        make_tool(sample, 1000).bind(arguments)
    assert str(caught.value).startswith(message)
