"""SLA reports: attainment, time to fulfil and active runs per policy and
metric over a period, as data, text, JSON and on the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.adapters.sqlite import SqliteStore
from escalate.config import example_config, load_config
from escalate.engine import Escalator
from escalate.errors import ConfigError
from escalate.model import Actor, Case
from escalate.sla import SlaEvent, nearest_rank, report, timeline
from escalate.svg import report_svg
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.test_sla import MON, SETTINGS, H, created

END = MON + 5 * 24 * H  # the Saturday after


def replied(after: timedelta, priority: str = "urgent") -> list[SlaEvent]:
    return [*created(MON, priority), SlaEvent(MON + after, "agent reply")]


class TestReport:
    def test_attainment_times_and_active_runs(self) -> None:
        histories = [
            replied(H / 2),  # first reply achieved in 30 min
            replied(H / 4),  # achieved in 15 min
            replied(3 * H),  # breached: 3 h against 1 h
            created(MON, "urgent"),  # not replied: active, breached by the end
            replied(2 * H, "normal"),  # normal: 8 h target, achieved in 2 h
        ]
        timelines = [timeline(SETTINGS, h, at=END) for h in histories]
        result = report(timelines, start=MON, end=END)
        (row,) = [r for r in result.rows if r.metric.value == "first reply"]
        assert (row.policy, row.achieved, row.breached) == ("standard", 3, 1)
        assert (row.active, row.active_breached) == (1, 1)
        assert row.attainment == "75.00"
        assert (row.median, row.p90) == (H / 2, 3 * H)

    def test_only_runs_fulfilled_in_the_period_count(self) -> None:
        timelines = [timeline(SETTINGS, replied(H / 2), at=END)]
        later = report(timelines, start=MON + H, end=END)
        (row,) = [r for r in later.rows if r.metric.value == "first reply"]
        assert (row.achieved, row.breached, row.attainment, row.median) == (
            0,
            0,
            None,
            None,
        )

    def test_text_and_json(self) -> None:
        timelines = [timeline(SETTINGS, replied(H / 2), at=END)]
        result = report(timelines, start=MON, end=END)
        text = result.text().splitlines()
        assert text[0] == f"SLA report {MON.isoformat()} to {END.isoformat()}"
        assert text[1].split() == [
            *("policy", "metric", "achieved", "breached", "attainment"),
            *("median", "p90", "active", "active", "breached"),
        ]
        data = json.loads(result.to_json())
        first = next(r for r in data["rows"] if r["metric"] == "first reply")
        assert (first["median_us"], first["attainment"]) == (1_800_000_000, "100.00")
        empty = report([], start=MON, end=END)
        assert empty.text().endswith("no SLA metric runs in the period")
        assert json.loads(empty.to_json())["left_out"] == []
        told = attrs.evolve(empty, left_out=["c7", "c9"])
        assert told.text().splitlines()[1:] == [
            "no SLA metric runs in the period",
            "left out: 2 case(s) with SLA events: c7, c9",
        ]

    def test_bad_periods_and_timelines(self) -> None:
        tl = timeline(SETTINGS, replied(H), at=END)
        with pytest.raises(ConfigError, match="expected an instant after start"):
            report([tl], start=END, end=MON)
        with pytest.raises(ConfigError, match="computed at the end"):
            report([tl], start=MON, end=END - H)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=40), st.integers(1, 100))
def test_nearest_rank_is_the_smallest_value_covering_the_percent(
    values: list[int], percent: int
) -> None:
    durations = [timedelta(microseconds=v) for v in values]
    got = nearest_rank(durations, percent)
    covering = [
        d
        for d in durations
        if 100 * sum(x <= d for x in durations) >= percent * len(durations)
    ]
    assert got == min(covering)


def test_nearest_rank_of_nothing() -> None:
    assert nearest_rank([], 50) is None


def replied_cases(db: Path) -> Escalator:
    """Under the example configuration (its standard policy: first reply,
    urgent, 1 h), three urgent cases replied to after 20, 40 and 90 minutes, in
    a SQLite file (the escalator's store is left open)."""
    esc = Escalator.from_config(
        load_config(example_config()),
        SqliteStore(db),
        RecordingMailer(),
        ManualClock(MON),
    )
    for i, minutes in enumerate((20, 40, 90)):
        esc.add_case(
            Case(id=f"c{i}", number=f"C-{i}", created_at=MON, priority="urgent"),
            by=Actor("ann"),
        )
        esc.record(f"c{i}", SlaEvent(MON + timedelta(minutes=minutes), "agent reply"))
    return esc


class TestCommand:
    def test_report_on_the_command_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from escalate.cli import main

        config = example_config()  # its standard policy: first reply, urgent, 1h
        db = tmp_path / "escalate.db"
        esc = replied_cases(db)
        # a deleted case (its breach among them) is left out, and said to be
        esc.add_case(
            Case(id="gone", number="C-9", created_at=MON, priority="urgent"),
            by=Actor("ann"),
        )
        esc.delete_case("gone", by=Actor("ann"))
        esc.store.close()
        args = ["report", "--config", config, "--db", db]
        period = ["--from", MON.isoformat(), "--to", END.isoformat()]
        assert main([*map(str, args), *period]) == 0
        out = capsys.readouterr().out
        row = next(line for line in out.splitlines() if "first reply" in line)
        assert row.split()[:6] == ["standard", "first", "reply", "2", "1", "66.66%"]
        assert out.splitlines()[-1] == "left out: 1 case(s) with SLA events: gone"
        assert main([*map(str, args), *period, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["rows"][0]["median_us"] == 40 * 60 * 1_000_000
        assert data["left_out"] == ["gone"]

    def test_by_default_the_policies_in_force_not_an_edited_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The file edited (urgent first reply: 1 h loosened to 2 h) and not yet
        applied: the report is on the policies the ticks measure with, those
        stored in the database; ``--config`` reports on the file's, as a what-if."""
        from escalate.cli import main

        config = example_config()
        db = tmp_path / "escalate.db"
        esc = replied_cases(db)
        esc.tick()  # stores the settings in force
        esc.store.close()
        edited = tmp_path / "edited.toml"
        urgent = 'metric = "first reply"\n  priority = "urgent"\n  within = '
        text = config.read_text(encoding="utf-8")
        assert text.count(f'{urgent}"1h"') == 1
        edited.write_text(text.replace(f'{urgent}"1h"', f'{urgent}"2h"'))
        period = ["--from", MON.isoformat(), "--to", END.isoformat()]

        def first_reply(*args: str) -> list[str]:
            assert main(["report", "--db", str(db), *args, *period]) == 0
            out = capsys.readouterr().out
            row = next(line for line in out.splitlines() if "first reply" in line)
            return row.split()[:6]

        assert first_reply() == ["standard", "first", "reply", "2", "1", "66.66%"]
        edit = first_reply("--config", str(edited))
        assert edit == ["standard", "first", "reply", "3", "0", "100.00%"]

    def test_without_stored_settings_or_sla_policies(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from escalate.cli import main

        db = tmp_path / "escalate.db"
        SqliteStore(db).close()
        period = ["--from", MON.isoformat(), "--to", END.isoformat()]
        assert main(["report", "--db", str(db), *period]) == 1
        assert capsys.readouterr().err == (
            f"escalate: error: --db: {str(db)!r} holds no settings yet; run a "
            "tick first\n"
        )
        config = tmp_path / "no-sla.toml"
        config.write_text(
            example_config().read_text(encoding="utf-8").split("[sla]")[0]
        )
        assert (
            main(
                [
                    "tick",
                    "--config",
                    str(config),
                    "--db",
                    str(db),
                    "--outbox",
                    str(tmp_path / "out"),
                ]
            )
            == 0
        )
        capsys.readouterr()
        assert main(["report", "--db", str(db), *period]) == 1
        assert capsys.readouterr().err == (
            f"escalate: error: --db: the settings stored in {str(db)!r} have no SLA "
            "policies to report on (or give --config FILE with an [sla] section)\n"
        )

    def test_what_it_cannot_do_is_named_and_prints_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A chart into a folder that does not exist, or a period ending where
        no calendar counts: an error naming the option, and no report printed
        half (the text used to come out before the chart failed)."""
        from escalate.cli import main

        db = tmp_path / "escalate.db"
        SqliteStore(db).close()
        args = ["report", "--config", str(example_config()), "--db", str(db)]
        period = ["--from", MON.isoformat(), "--to", END.isoformat()]
        chart = tmp_path / "missing" / "chart.svg"
        assert main([*args, *period, "--svg", str(chart)]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            f"escalate: error: --svg: cannot write {str(chart)!r}: "
            "No such file or directory\n"
        )
        assert not chart.parent.exists()
        far = ["--from", MON.isoformat(), "--to", "9999-12-31T00:00:00+00:00"]
        assert main([*args, *far]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (
            "escalate: error: --to: expected an instant in the years 2-9997, got "
            "9999-12-31T00:00:00+00:00\n"
        )

    def test_without_sla_policies(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from escalate.cli import main

        db = tmp_path / "escalate.db"
        SqliteStore(db).close()
        config = tmp_path / "no-sla.toml"
        config.write_text('[calendars.office]\ntz = "UTC"\n')
        args = ["report", "--config", str(config), "--db", str(db)]
        code = main([*args, "--from", MON.isoformat(), "--to", END.isoformat()])
        assert code != 0
        assert "has no [sla] section" in capsys.readouterr().err


class TestPictures:
    def test_report_chart(self, tmp_path: Path) -> None:
        """A bar per policy and metric with something fulfilled, sized by its
        attainment; a row without has a label and no bar."""
        timelines = [
            timeline(SETTINGS, h, at=END)
            for h in (replied(H / 2), replied(3 * H), created(MON, "urgent"))
        ]
        result = report(timelines, start=MON, end=END)
        svg = report_svg(result)
        bars = [line for line in svg.splitlines() if 'class="attainment"' in line]
        assert len(bars) == 1  # first reply: 1 of 2; resolution: none fulfilled
        assert 'width="350.0"' in bars[0]  # 50% of 700
        assert "standard: first reply: 50.00% (1 achieved, 1 breached" in bars[0]
        assert "standard: resolution" in svg

    def test_the_case_timeline_shows_the_sla_runs(self, tmp_path: Path) -> None:
        from escalate.cli import main

        folder = tmp_path / "demo"
        assert main(["demo", "--dir", str(folder)]) == 0
        out = folder / "c3.svg"
        args = ["timeline", "--db", str(folder / "demo.db"), "c3", "--svg", str(out)]
        at = "2026-11-26T12:00:00+01:00"
        assert main([*args, "--now", at]) == 0  # the stored settings' SLA
        stored = out.read_text()
        config = str(folder / "helpdesk.toml")
        assert main([*args, "--now", at, "--config", config]) == 0
        svg = out.read_text()
        assert svg == stored  # the same policies
        assert svg.count('class="sla"') == 2  # first reply, resolution
        assert "paused Tue 10:00-Wed 16:00" in svg  # Pending until it expired
        out1 = folder / "c1.svg"
        args1 = ["timeline", "--db", str(folder / "demo.db"), "c1", "--svg", str(out1)]
        assert main([*args1, "--now", at, "--config", config]) == 0
        assert svg.count('class="sla-breach"') == 0
        assert out1.read_text().count('class="sla-breach"') == 2  # reply, resolution
