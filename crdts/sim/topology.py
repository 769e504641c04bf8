"""Overlay topologies: who talks to whom. Every builder returns ``{node index: sorted neighbour indexes}``."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

__all__ = ["TOPOLOGIES", "build_topology", "diameter", "edges"]

Graph = dict[int, list[int]]


def _from_edges(n: int, es: set[tuple[int, int]]) -> Graph:
    g: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in es:
        g[a].add(b)
        g[b].add(a)
    return {i: sorted(v) for i, v in g.items()}


def mesh(n: int, **_: object) -> Graph:
    """Everyone talks to everyone."""
    return {i: [j for j in range(n) if j != i] for i in range(n)}


def ring(n: int, **_: object) -> Graph:
    if n < 3:
        return line(n)
    return _from_edges(n, {(i, (i + 1) % n) for i in range(n)})


def line(n: int, **_: object) -> Graph:
    return _from_edges(n, {(i, i + 1) for i in range(n - 1)})


def star(n: int, **_: object) -> Graph:
    return _from_edges(n, {(0, i) for i in range(1, n)})


def tree(n: int, **_: object) -> Graph:
    """A binary tree in heap order: internal nodes have degree 3 (the ICDE'19 tree for n = 15)."""
    return _from_edges(n, {((i - 1) // 2, i) for i in range(1, n)})


def partial_mesh(n: int, degree: int = 4, seed: int = 0, **_: object) -> Graph:
    """A connected random graph where every node has ``degree`` neighbours (n*degree/2 edges).

    Built by the pairing model with a seeded generator, retried until simple and connected; if that
    fails (tiny or odd cases) a circulant graph (i ± 1 .. ± degree/2) is used. Deterministic for a seed.
    """
    if degree >= n - 1:
        return mesh(n)
    rng = random.Random(seed)
    if (n * degree) % 2 == 0:
        for _attempt in range(200):
            stubs = [i for i in range(n) for _k in range(degree)]
            rng.shuffle(stubs)
            es = set()
            ok = True
            for k in range(0, len(stubs), 2):
                a, b = stubs[k], stubs[k + 1]
                e = (min(a, b), max(a, b))
                if a == b or e in es:
                    ok = False
                    break
                es.add(e)
            if ok:
                g = _from_edges(n, es)
                if diameter(g) >= 0:
                    return g
    es = {(min(i, (i + k) % n), max(i, (i + k) % n)) for i in range(n) for k in range(1, degree // 2 + 1)}
    return _from_edges(n, es)


TOPOLOGIES: dict[str, Callable[..., Graph]] = {
    "mesh": mesh, "partial-mesh": partial_mesh, "ring": ring, "tree": tree, "star": star, "line": line,
}


def build_topology(name: str, n: int, degree: int = 4, seed: int = 0) -> Graph:
    if name not in TOPOLOGIES:
        raise ValueError(f"unknown topology {name!r}; choose one of {sorted(TOPOLOGIES)}")
    if n < 1:
        raise ValueError("a topology needs at least one node")
    return TOPOLOGIES[name](n, degree=degree, seed=seed)


def edges(g: Graph) -> int:
    return sum(len(v) for v in g.values()) // 2


def diameter(g: Graph) -> int:
    """The longest shortest path, or -1 when the graph is disconnected."""
    best = 0
    for s in g:
        dist = {s: 0}
        q = deque([s])
        while q:
            u = q.popleft()
            for v in g[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    q.append(v)
        if len(dist) != len(g):
            return -1
        best = max(best, max(dist.values()))
    return best
