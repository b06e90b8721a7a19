"""``wandb.sdk.data_types.trace_tree``: a stand-in that imports, so the integrations that import it load.

Spans and results can be built (they are plain records); a trace tree
cannot be made or logged: W&B shows it in its web app, and localreg has
no such panel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from . import unsupported


class StatusCode(str, enum.Enum):
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


class SpanKind(str, enum.Enum):
    LLM = "LLM"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"


@dataclass
class Result:
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


@dataclass
class Span:
    span_id: str | None = None
    name: str | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    status_code: StatusCode | None = None
    status_message: str | None = None
    attributes: dict[str, Any] | None = None
    results: list[Result] | None = None
    child_spans: list["Span"] = field(default_factory=list)
    span_kind: SpanKind | None = None

    def add_child_span(self, span: "Span") -> None:
        self.child_spans.append(span)


class WBTraceTree:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise unsupported("wandb.sdk.data_types.trace_tree.WBTraceTree", "trace trees are shown by W&B's web app")


class Trace:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise unsupported("wandb.sdk.data_types.trace_tree.Trace", "trace trees are shown by W&B's web app")


__all__ = ["Result", "Span", "SpanKind", "StatusCode", "Trace", "WBTraceTree"]
