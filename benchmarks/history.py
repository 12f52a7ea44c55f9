"""History chain speed: build and verify a 100,000-entry chain.

Run: ``python benchmarks/history.py``

The entries are what ``apply_change`` writes for a long-lived case (priority and
owner changes with their details). Target: ``verify`` under 1.5 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from escalate.history import HistoryAction, HistoryEntry, HistoryHead, verify

N = 100_000


def main() -> None:
    t0 = time.perf_counter()
    head = HistoryHead("case-1")
    entries = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(N):
        entry = HistoryEntry.chained(
            head,
            action=HistoryAction.CASE_MODIFIED,
            at=start + timedelta(seconds=i),
            actor=f"user-{i % 50}",
            details={
                "changes": {
                    "priority": {"old": "low", "new": "high"},
                    "owner": {"old": "ann", "new": "bob"},
                }
            },
        )
        entries.append(entry)
        head = head.after(entry)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = verify(entries, head=head)
    took = time.perf_counter() - t0
    assert result.ok
    print(f"{N:,} entries: build {built:.2f} s ({N / built:,.0f} appends/s)")
    print(f"verify with head: {took:.2f} s (target < 1.5 s), {N / took:,.0f} entries/s")


if __name__ == "__main__":
    main()
