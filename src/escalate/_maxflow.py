"""Dinic's maximum flow, for bulk assignment (:func:`escalate.matching.assign_bulk`).

A small graph of integer capacities; edges may start with flow already on them,
so a greedy assignment can be the starting point.
"""

from __future__ import annotations

from collections import deque

__all__ = ["MaxFlow"]


class MaxFlow:
    """Dinic's maximum flow on a small graph of integer capacities."""

    def __init__(self, n: int) -> None:
        self.graph: list[list[list[int]]] = [[] for _ in range(n)]  # [to, cap, rev]

    def edge(self, u: int, v: int, cap: int, flow: int = 0) -> list[int]:
        """Add ``u -> v`` with ``flow`` already on it; the forward edge."""
        forward = [v, cap - flow, len(self.graph[v])]
        self.graph[u].append(forward)
        self.graph[v].append([u, flow, len(self.graph[u]) - 1])
        return forward

    def run(self, s: int, t: int) -> int:
        """Push as much more flow from ``s`` to ``t`` as fits; the amount."""
        total = 0
        while True:
            level = self._levels(s)
            if level[t] < 0:
                return total
            it = [0] * len(self.graph)
            while f := self._push(s, t, level, it):
                total += f

    def _levels(self, s: int) -> list[int]:
        level = [-1] * len(self.graph)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v, cap, _ in self.graph[u]:
                if cap > 0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level

    def _push(self, s: int, t: int, level: list[int], it: list[int]) -> int:
        """One augmenting path in the level graph (iterative depth-first)."""
        graph = self.graph
        path: list[list[int]] = []
        u = s
        while True:
            if u == t:
                f = min(e[1] for e in path)
                for e in path:
                    e[1] -= f
                    graph[e[0]][e[2]][1] += f
                return f
            edges = graph[u]
            while it[u] < len(edges):
                e = edges[it[u]]
                if e[1] > 0 and level[e[0]] == level[u] + 1:
                    break
                it[u] += 1
            else:
                if u == s:
                    return 0
                level[u] = -1  # a dead end: skip it in this phase
                e = path.pop()
                u = graph[e[0]][e[2]][0]
                it[u] += 1
                continue
            path.append(e)
            u = e[0]
