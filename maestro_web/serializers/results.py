"""The analytics worker's side: the job it claims and the result it posted, as stored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from maestro_web.models import Graph, GraphResult

ResultStatus = Literal["finished", "warning", "error"]


class WorkerResultOut(BaseModel):
    graph_id: str
    run_id: str
    status: ResultStatus
    msg: str
    total: int | None
    info: dict[str, Any]
    svg_bytes: int
    created_at: str


class SpecNode(BaseModel):
    model_config = ConfigDict(extra="allow")  # attributes such as kind

    name: str


class SpecEdge(BaseModel):
    source: str
    target: str


class SpecOut(BaseModel):
    nodes: list[SpecNode]
    edges: list[SpecEdge]


class JobOut(BaseModel):
    graph_id: str
    run_id: str
    type: str
    name: str
    spec: SpecOut


def result_json(graph: Graph, result: GraphResult) -> dict[str, Any]:
    return {
        "graph_id": graph.public_id,
        "run_id": result.run.public_id,
        "status": result.status,
        "msg": result.message,
        "total": result.total,
        "info": result.info,
        "svg_bytes": len(result.svg.encode()) if result.svg else 0,
        "created_at": result.created_at.isoformat(),
    }
