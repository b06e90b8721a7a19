"""The lineage of a version as a small graph, and that graph drawn as SVG.

Columns from left to right: the run that logged the source version, the
source version, its registry links (and the runs that used the source
directly), then the runs that used one of its links. The SVG is plain
markup written here: no script, no external asset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from .. import runs, versions
from .render import url_version

if TYPE_CHECKING:
    from ..store import Store
    from ..versions import Version

MAX_PER_COLUMN = 8
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 220, 50, 60, 14, 12
CHAR_W = 7.0  # average width of a 12px sans-serif character, for truncating labels


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # "run", "source", "link" or "more"
    label: str
    detail: str
    url: str | None = None
    current: bool = False
    title: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "logged", "linked" or "used"


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    columns: dict[str, int] = field(default_factory=dict)

    def add(self, node: Node, column: int) -> None:
        self.nodes.append(node)
        self.columns[node.id] = column

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [{**asdict(n), "column": self.columns[n.id]} for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
        }


def _run_node(run: runs.RunInfo) -> Node:
    detail = " · ".join(x for x in ("run", run.job_type, run.state) if x)
    return Node(f"run:{run.pk}", "run", run.name or run.id, detail, title=f"run {run.path}")


def lineage(store: "Store", version: "Version") -> Graph:
    """The graph around ``version`` (for a link: around its source, the link marked current)."""
    source = versions.get(store, version.data_id) if version.is_link else version
    g = Graph()
    logged = runs.logged_by(store, source)
    source_node = Node(f"v:{source.id}", "source", source.name, f"source · {source.entity}/{source.project}",
                       url_version(source), current=not version.is_link, title=source.qualified_name)
    if logged is not None:
        g.add(_run_node(logged), 0)
        g.edges.append(Edge(f"run:{logged.pk}", source_node.id, "logged"))
    g.add(source_node, 1)

    links = versions.links_of(store, source)
    link_ids = {link.id for link in links}
    for i, link in enumerate(links):
        if i == MAX_PER_COLUMN:
            g.add(Node("more:links", "more", f"+{len(links) - i} more links", ""), 2)
            g.edges.append(Edge(source_node.id, "more:links", "linked"))
            break
        node = Node(f"v:{link.id}", "link", f"{link.registry or link.project}/{link.name}",
                    "link · " + (", ".join(link.aliases) or "no aliases"), url_version(link),
                    current=link.id == version.id, title=link.qualified_name)
        g.add(node, 2)
        g.edges.append(Edge(source_node.id, node.id, "linked"))

    users = runs.used_by(store, source)
    direct: list[tuple[runs.RunInfo, list[int], bool]] = []
    via_links: list[tuple[runs.RunInfo, list[int], bool]] = []
    for run in users:
        inputs = set(runs.run_versions(store, run.pk, "input"))
        through = sorted(inputs & link_ids)
        (via_links if through else direct).append((run, through, source.id in inputs))
    for column, group in ((2, direct), (3, via_links)):
        for i, (run, through, used_source) in enumerate(group):
            if i == MAX_PER_COLUMN:
                more = Node(f"more:runs{column}", "more", f"+{len(group) - i} more runs", "")
                g.add(more, column)
                break
            node = _run_node(run)
            if node.id in g.columns:
                continue
            g.add(node, column)
            for lid in through:
                if f"v:{lid}" in g.columns:
                    g.edges.append(Edge(f"v:{lid}", node.id, "used"))
            if used_source or not any(f"v:{lid}" in g.columns for lid in through):
                g.edges.append(Edge(source_node.id, node.id, "used"))
    return g


def _fit(text: str, width: float) -> str:
    room = int((width - 20) / CHAR_W)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def to_svg(g: Graph) -> Markup:
    """Draw the graph: one column per step, edges as curves from left to right."""
    used_columns = sorted(set(g.columns.values()))
    col_index = {c: i for i, c in enumerate(used_columns)}
    stacks: dict[int, list[Node]] = {}
    for n in g.nodes:
        stacks.setdefault(col_index[g.columns[n.id]], []).append(n)
    tallest = max((len(s) for s in stacks.values()), default=1)
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y
    width = PAD * 2 + len(used_columns) * NODE_W + (len(used_columns) - 1) * GAP_X
    pos: dict[str, tuple[float, float]] = {}
    for col, stack in stacks.items():
        block = len(stack) * NODE_H + (len(stack) - 1) * GAP_Y
        top = (height - block) / 2
        for i, n in enumerate(stack):
            pos[n.id] = (PAD + col * (NODE_W + GAP_X), top + i * (NODE_H + GAP_Y))

    out = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" role="img" aria-label="Lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
    ]
    for e in g.edges:
        if e.source not in pos or e.target not in pos:
            continue
        x1, y1 = pos[e.source]
        x2, y2 = pos[e.target]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path class="edge edge-{e.kind}" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} '
            f'{x2 - 2:.0f},{y2:.0f}" marker-end="url(#arrow)"><title>{escape(e.kind)}</title></path>'
        )
    for n in g.nodes:
        x, y = pos[n.id]
        cls = f"node node-{n.kind}" + (" current" if n.current else "")
        body = (
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="7"/>'
            f'<text x="{x + 10:.0f}" y="{y + 20:.0f}" class="label">{escape(_fit(n.label, NODE_W))}</text>'
            f'<text x="{x + 10:.0f}" y="{y + 38:.0f}" class="detail">{escape(_fit(n.detail, NODE_W))}</text>'
            f"<title>{escape(n.title or n.label)}{' (' + escape(n.detail) + ')' if n.detail else ''}</title>"
        )
        if n.url and not n.current:
            out.append(f'<a href="{escape(n.url)}" class="{cls}">{body}</a>')
        else:
            out.append(f'<g class="{cls}">{body}</g>')
    out.append("</svg>")
    return Markup("".join(out))
