"""The configuration file: the example, every error's TOML path, and a fuzz."""

from __future__ import annotations

import contextlib
import copy
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalate.config import Config, example_config, load_config, parse_config
from escalate.errors import ConfigError, EscalateError
from escalate.model import Status

AMS = ZoneInfo("Europe/Amsterdam")
H = timedelta(hours=1)

MINIMAL = """
[calendars.office]
tz = "Europe/Amsterdam"
weekly = { mon-fri = "09:00-17:00" }

[rules.gold]
[[rules.gold.items]]
id = "all"
hours = "office"
[[rules.gold.items.actions]]
id = "lead"
after = "4h"
escalate_to = "lead"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "escalate.toml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


class TestExample:
    def test_the_bundled_example(self) -> None:
        """The example is a Dutch helpdesk: holidays, lunch, a 3-step ladder,
        Pending -> Expired, two lead types, qualifications."""
        config = load_config(example_config())
        office = config.settings.calendars["office"]
        assert not office.is_open(datetime(2026, 4, 27, 10, tzinfo=AMS))  # King's Day
        assert not office.is_open(datetime(2026, 11, 24, 13, tzinfo=AMS))  # lunch
        assert not office.is_open(datetime(2026, 12, 28, 10, tzinfo=AMS))  # day off
        assert not office.is_open(datetime(2026, 12, 7, 10, tzinfo=AMS))  # 1st Monday
        book = config.settings.book
        gold = book.rules[0].items[0]
        assert [a.id for a in gold.actions] == ["team-lead", "manager", "director"]
        assert book.expiry is not None
        assert book.expiry.pending == Status.PENDING
        assert sorted(config.settings.leads.types) == ["phone", "web"]
        north = config.settings.leads.effective_settings("web", "north").hours.value
        sales = config.settings.calendars["sales"]
        assert north.weekly == (*sales.weekly[:5], ((9 * H, 16 * H),), ())
        assert config.routing is not None
        assert sorted(config.routing.catalog.qualifications) == [
            "dutch",
            "networking",
            "patience",
        ]
        assert "escalation.txt" in config.compiled_templates()

    def test_minimal(self, tmp_path: Path) -> None:
        """A calendar and one rule are enough; the only rule is the active one."""
        config = load(tmp_path, MINIMAL)
        assert config.settings.book.active == "gold"
        assert config.settings.book.scheduler_on
        assert config.settings.book.rules[0].items[0].actions[0].after == 4 * H
        assert config.routing is None

    def test_digest_follows_the_settings(self, tmp_path: Path) -> None:
        """Equal content, equal digest; a changed deadline, another digest."""
        a = load(tmp_path, MINIMAL)
        assert load(tmp_path, MINIMAL + "\n# a comment\n").digest == a.digest
        assert load(tmp_path, MINIMAL.replace('"4h"', '"5h"')).digest != a.digest


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("4h", 4 * H),
            ("2h30m", 2.5 * H),
            ("90m", 1.5 * H),
            ("45s", timedelta(seconds=45)),
            ("1h 30m", 1.5 * H),
            ("0m", timedelta(0)),
        ],
    )
    def test_accepted(self, tmp_path: Path, text: str, expected: timedelta) -> None:
        """Hours, minutes and seconds, in that order."""
        config = load(tmp_path, MINIMAL.replace('"4h"', f'"{text}"'))
        assert config.settings.book.rules[0].items[0].actions[0].after == expected

    @pytest.mark.parametrize(
        "text", ['"1d"', '"4 hours"', '""', '"h"', "4", '"-1h"', '"30m2h"', '"1w"']
    )
    def test_refused(self, tmp_path: Path, text: str) -> None:
        """Days are refused (a business day is not 24 hours), as is anything else."""
        with pytest.raises(ConfigError) as info:
            load(tmp_path, MINIMAL.replace('"4h"', text))
        message = str(info.value)
        assert message.startswith("rules.gold.items[0].actions[0].after: expected a")
        assert 'there is no "d"' in message


GOLD = """
[calendars.office]
tz = "Europe/Amsterdam"
weekly = { mon-fri = "09:00-17:00" }

[rules.gold]
[[rules.gold.items]]
id = "one"
actions = [{ id = "a", after = "1h", escalate_to = "a" }]
[[rules.gold.items]]
id = "two"
actions = [{ id = "a", after = "1h", escalate_to = "a" }]
[[rules.gold.items]]
id = "three"
[[rules.gold.items.actions]]
id = "lead"
after = "4 hours"
escalate_to = "lead"
"""


class TestErrors:
    def test_the_path_names_the_value(self, tmp_path: Path) -> None:
        """Indices as in the file, from 0; the value as TOML writes it."""
        with pytest.raises(ConfigError) as info:
            load(tmp_path, GOLD)
        assert str(info.value).startswith(
            'rules.gold.items[2].actions[0].after: expected a duration like "4h"'
        )
        assert str(info.value).endswith('got "4 hours"')

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            (
                'tz = "Europe/Amsterdam"',
                'tz = "Mars/Olympus"',
                "calendars.office: tz: expected an IANA time zone name",
            ),
            (
                '"09:00-17:00"',
                '"9 to 5"',
                "calendars.office: mon-fri: expected 'closed' or intervals",
            ),
            (
                "weekly =",
                'special_days = { "24 Dec" = "closed" }\nweekly =',
                'calendars.office.special_days."24 Dec": expected a date key',
            ),
            (
                "weekly =",
                'holidays = { country = "XX" }\nweekly =',
                "calendars.office.holidays.country: expected a country",
            ),
            (
                "weekly =",
                "holidays = { dates = [2026-12-31T10:00:00+01:00] }\nweekly =",
                "calendars.office.holidays.dates[0]: expected a date like",
            ),
            (
                "weekly =",
                'recurring = [{ rule = "FREQ=WEEKLY" }]\nweekly =',
                "calendars.office.recurring[0]: rule 'FREQ=WEEKLY': expected BYDAY",
            ),
            (
                "weekly =",
                'colour = "blue"\nweekly =',
                "calendars.office.colour: unknown key; expected one of",
            ),
            (
                "weekly =",
                'holidays = { dates = "2026-12-31" }\nweekly =',
                'calendars.office.holidays.dates: expected an array of dates, got "20',
            ),
            (
                'hours = "office"',
                'conditions = "priority = high"',
                "rules.gold.items[0].conditions: expected an array of conditions",
            ),
            (
                'hours = "office"',
                'hours = "ofice"',
                "rules: the calendars ['ofice'] are named but not defined",
            ),
            (
                'hours = "office"',
                'conditions = [["priority"]]',
                "rules.gold.items[0].conditions[0]: expected [field, operator, value]",
            ),
            (
                'hours = "office"',
                'conditions = [["priority", "bigger", 1]]',
                "rules.gold.items[0].conditions[0]: ",
            ),
            (
                'hours = "office"',
                'basis = "whenever"',
                "rules.gold.items[0].basis: expected one of 'created', 'modified'",
            ),
            (
                'id = "all"',
                "",
                "rules.gold.items[0].id: every rule item needs an explicit, stable "
                "id (what has fired is recorded under it, so that inserting, "
                "reordering or editing never fires a step twice), got none; add "
                'id = "gold-1" (the id earlier versions gave it by its position',
            ),
            (
                'id = "lead"',
                "",
                "rules.gold.items[0].actions[0].id: every escalation action needs an "
                "explicit, stable id (what has fired is recorded under it, so that "
                "inserting, reordering or editing never fires a step twice), got "
                'none; add id = "step-1"',
            ),
            (
                'id = "lead"',
                'id = ""',
                'rules.gold.items[0].actions[0].id: expected a non-empty text, got ""',
            ),
            (
                'escalate_to = "lead"',
                'escalate_to = "lead"\n[[rules.gold.items.actions]]\nid = "lead"\n'
                'after = "1h"\nescalate_to = "x"',
                "rules.gold.items[0]: item 'all': actions: action ids must be unique "
                "in an item, got ['lead', 'lead']",
            ),
            (
                'escalate_to = "lead"',
                'escalate_to = "lead"\nwarnings = [150]',
                "rules.gold.items[0].actions[0].warnings: expected an array of per",
            ),
            (
                'escalate_to = "lead"',
                "escalate_to = 7",
                "rules.gold.items[0].actions[0].escalate_to: expected a text, got 7",
            ),
            (
                "[rules.gold]",
                '[escalation]\nactive = "silver"\n[rules.gold]',
                "escalation: active: no rule named 'silver'",
            ),
            (
                "[rules.gold]",
                "[escalation.expiry]\nafter = 3\n[rules.gold]",
                "escalation.expiry.after: expected a duration",
            ),
            (
                "[rules.gold]",
                '[leads.types.web]\naccept_within = "1h"\n'
                'first_activity_within = "1h"\nhours = "nowhere"\n[rules.gold]',
                "leads.types.web.hours: expected a calendar name, one of ['office']",
            ),
            (
                "[rules.gold]",
                '[leads.teams.web.north]\nresponsible = ["x"]\n[rules.gold]',
                'leads.teams.web: expected a lead type, one of [], got "web"',
            ),
            (
                "[rules.gold]",
                '[leads.types.web]\naccept_within = "1h"\nfirst_activity_within = "1h"'
                '\nhours = "office"\n[leads.teams.web.north]\nresponsible = ["x"]\n'
                'days = { sat = "10-14" }\n[rules.gold]',
                "leads.teams.web.north: days['sat']: expected",
            ),
            (
                "[rules.gold]",
                '[templates.inline]\n"x.txt" = "{{ broken"\n[rules.gold]',
                "templates: ",
            ),
            (
                "[rules.gold]",
                '[templates]\nfolder = "nowhere"\n[rules.gold]',
                "templates.folder: expected a folder of templates",
            ),
            (
                "[rules.gold]",
                '[mail.smtp]\nhost = "smtp"\nport = 70000\n[rules.gold]',
                "mail.smtp.port: expected a port from 1 to 65535, got 70000",
            ),
            (
                "[rules.gold]",
                '[mail.addresses]\nann = "not an address"\n[rules.gold]',
                "mail.addresses.ann: expected one e-mail address like "
                "'ann@example.com', got 'not an addr",
            ),
            (
                "[rules.gold]",
                '[assignment]\nqueue_user = "q"\n[assignment.agents.ann]\n'
                "qualifications = { dutch = 3 }\n[rules.gold]",
                "assignment.agents.ann.qualifications: unknown qualification",
            ),
            (
                "[rules.gold]",
                "format = 2\n[rules.gold]",
                "calendars.office.format: unknown key",
            ),
        ],
    )
    def test_each_error_names_its_path(
        self, tmp_path: Path, old: str, new: str, message: str
    ) -> None:
        """Each bad value is a ConfigError that starts with its TOML path."""
        assert old in MINIMAL
        with pytest.raises(ConfigError) as info:
            load(tmp_path, MINIMAL.replace(old, new, 1))
        assert str(info.value).startswith(message), str(info.value)

    def test_a_naive_datetime_is_refused_with_its_path(self, tmp_path: Path) -> None:
        """A local date-time in the file is a ConfigError naming where it is."""
        text = MINIMAL.replace("[rules.gold]", "[extra]\nwhen = 2026-11-23T09:00:00\n")
        with pytest.raises(ConfigError) as info:
            load(tmp_path, text)
        assert str(info.value) == (
            "extra.when: expected an instant with an offset like "
            "2026-11-23T09:00:00+01:00, got 2026-11-23T09:00:00 (no offset)"
        )

    def test_files(self, tmp_path: Path) -> None:
        """Missing file, not TOML, not UTF-8: each a ConfigError naming the file."""
        with pytest.raises(ConfigError, match="cannot read the configuration file"):
            load_config(tmp_path / "missing.toml")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load(tmp_path, "this is = = not toml")
        bad = tmp_path / "latin1.toml"
        bad.write_bytes(b"# caf\xe9\n")
        with pytest.raises(ConfigError, match="expected UTF-8 text"):
            load_config(bad)


class TestFiles:
    def test_template_folder_and_ical(self, tmp_path: Path) -> None:
        """A template folder and an iCalendar file are read relative to the file."""
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "escalation.subject").write_text("{{ case.number }}")
        (tmp_path / "templates" / ".hidden").write_text("{{ broken")
        (tmp_path / "closed.ics").write_text(
            "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:1\n"
            "DTSTART;VALUE=DATE:20261130\nSUMMARY:Move\nEND:VEVENT\nEND:VCALENDAR\n"
        )
        text = MINIMAL.replace(
            "weekly =", 'holidays = { ical = "closed.ics" }\nweekly ='
        ).replace("[rules.gold]", '[templates]\nfolder = "templates"\n[rules.gold]')
        config = load(tmp_path, text)
        assert sorted(config.templates) == ["escalation.subject"]
        office = config.settings.calendars["office"]
        assert office.shifts_on(date(2026, 11, 30)) == ()


EXAMPLE = tomllib.loads(example_config().read_text())

toml_values = st.recursive(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(["4h", "09:00-17:00", "office", "closed", "FREQ=DAILY", "NL"]),
        st.integers(-5, 200),
        st.booleans(),
        st.dates(),
        st.datetimes(timezones=st.one_of(st.none(), st.just(AMS))),
    ),
    lambda inner: st.one_of(  # min_size=1: hypothesis checks that extend recurses
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(st.text(max_size=8), inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


EXAMPLE_PATHS = paths(EXAMPLE)


class TestFuzz:
    def test_a_key_that_is_no_text(self) -> None:
        """A mapping built in Python may have keys TOML cannot: still our error."""
        data = copy.deepcopy(EXAMPLE)
        data["leads"]["teams"]["web"]["north"]["responsible"] = {"": "", 0: ""}
        with pytest.raises(ConfigError, match="responsible: expected an array"):
            parse_config(data, base=example_config().parent)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS), toml_values), max_size=3))
    def test_a_damaged_example_gives_a_config_or_our_error(
        self, damage: list[tuple[tuple[Any, ...], Any]]
    ) -> None:
        """Replace values anywhere in the example: a Config, or an escalate error."""
        data = copy.deepcopy(EXAMPLE)
        for path, value in damage:
            node = data
            try:
                for part in path[:-1]:
                    node = node[part]
                node[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed the place
        try:
            config = parse_config(data, base=example_config().parent)
        except EscalateError:
            return
        assert isinstance(config, Config)

    @settings(max_examples=200)
    @given(st.dictionaries(st.text(max_size=10), toml_values, max_size=4))
    def test_any_document_gives_a_config_or_our_error(
        self, data: dict[str, Any]
    ) -> None:
        """Arbitrary tables: a Config, or an escalate error, never another one."""
        with contextlib.suppress(EscalateError):
            parse_config(data, base=Path("."))

    @settings(max_examples=200)
    @given(st.text(max_size=200))
    def test_any_text_gives_a_config_or_our_error(self, text: str) -> None:
        """Arbitrary text through the file reader."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "c.toml"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            with contextlib.suppress(EscalateError):
                load_config(path)
