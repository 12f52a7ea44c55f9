"""Operator and tenant settings: what a tenant writes never reaches the
operator's secrets, files, folders or hosts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from escalate.config import example_config, load_config, load_tenant_config
from escalate.delivery import DeliveryPolicy
from escalate.errors import ConfigError
from escalate.operator import (
    OPERATOR_KEYS,
    OperatorSettings,
    SmtpSettings,
    load_operator_settings,
)
from tests.test_config import MINIMAL

TENANT = (
    MINIMAL
    + """
[mail]
sender = "helpdesk@tenant.example"
[mail.addresses]
lead = "lead@tenant.example"

[templates.inline]
"escalation.subject" = "Case {{ case.number }}"
"escalation.txt" = "Case {{ case.number }} needs you."
"""
)

ICAL = (
    "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nBEGIN:VEVENT\n"
    "UID:1\nDTSTART;VALUE=DATE:20261228\nSUMMARY:day off\nEND:VEVENT\n"
    "END:VCALENDAR\n"
)


class TestTenantSettings:
    def test_loaded_from_text_or_a_mapping_alike(self) -> None:
        """TOML text and the same settings as a mapping (a JSON API's) load to
        the same settings, with an empty operator part."""
        from_text = load_tenant_config(TENANT)
        from_dict = load_tenant_config(json.loads(json.dumps(tomllib.loads(TENANT))))
        assert from_text.digest == from_dict.digest
        assert from_text.operator == OperatorSettings()
        assert from_text.mail.addresses["lead"] == "lead@tenant.example"

    @pytest.mark.parametrize(
        ("extra", "key"),
        [
            (
                '[mail.smtp]\nhost = "smtp.evil.example"\nsecurity = "none"\n'
                'password_env = "OPERATOR_DB_PASSWORD"\n',
                "mail.smtp",
            ),
            ('[mail]\nfolder = "/etc/cron.d"\n', "mail.folder"),
            ("[mail.delivery]\nmax_attempts = 1000\n", "mail.delivery"),
            ('[templates]\nfolder = "../secret"\n', "templates.folder"),
            (
                '[calendars.office.holidays]\nical = "/etc/shadow"\n',
                "calendars.office.holidays.ical",
            ),
            (
                '[calendars.office.holidays]\nical = "../../../etc/passwd"\n',
                "calendars.office.holidays.ical",
            ),
            (
                '[calendars.office.holidays]\nical = "/proc/self/environ"\n',
                "calendars.office.holidays.ical",
            ),
        ],
    )
    def test_each_operator_key_is_refused(self, extra: str, key: str) -> None:
        """A tenant who writes an operator's key (a host with the operator's
        password variable, a mail folder, a template folder, a file to read) gets
        a ConfigError naming it; nothing is read, nothing connects."""
        data = tomllib.loads(TENANT)
        for name, value in tomllib.loads(extra).items():
            if isinstance(value, dict) and isinstance(data.get(name), dict):
                _merge(data[name], value)
            else:
                data[name] = value
        with pytest.raises(ConfigError, match="an operator setting") as e:
            load_tenant_config(data)
        assert str(e.value).startswith(key + ":")
        assert "root:" not in str(e.value)

    @pytest.mark.parametrize(
        "kwargs",
        [{"templates": ["a"]}, {"templates": {"a.txt": 1}}, {"operator": {"smtp": 1}}],
    )
    def test_bad_arguments_are_refused(self, kwargs: dict[str, object]) -> None:
        """The loader's other arguments are checked too (a WrongTypeError, not
        an AttributeError from inside)."""
        from escalate.errors import WrongTypeError

        with pytest.raises(WrongTypeError):
            load_tenant_config(TENANT, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(WrongTypeError, match="source: expected TOML text"):
            load_tenant_config(42)  # type: ignore[arg-type]

    def test_the_operator_keys_are_listed(self) -> None:
        """OPERATOR_KEYS names every key the tenant loader refuses."""
        assert OPERATOR_KEYS == (
            "mail.smtp",
            "mail.folder",
            "mail.delivery",
            "templates.folder",
            "calendars.<name>.holidays.ical",
        )

    def test_ical_is_given_as_text(self) -> None:
        """A tenant's iCalendar closures come as text (ical_text)."""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        text = TENANT.replace(
            'weekly = { mon-fri = "09:00-17:00" }',
            'weekly = { mon-fri = "09:00-17:00" }\nholidays = { ical_text = '
            + json.dumps(ICAL)
            + " }",
        )
        office = load_tenant_config(text).settings.calendars["office"]
        ams = ZoneInfo("Europe/Amsterdam")
        assert not office.is_open(datetime(2026, 12, 28, 10, tzinfo=ams))
        assert office.is_open(datetime(2026, 12, 29, 10, tzinfo=ams))

    def test_templates_build_on_the_operators(self) -> None:
        """The operator's base templates, then templates=, under the tenant's
        inline ones."""
        base = {"warning.txt": "base warning", "escalation.txt": "base"}
        config = load_tenant_config(TENANT, templates=base)
        assert config.templates["warning.txt"] == "base warning"
        assert config.templates["escalation.txt"] == "Case {{ case.number }} needs you."
        operator = OperatorSettings(templates={"warning.txt": "op", "task.txt": "op"})
        both = load_tenant_config(TENANT, templates=base, operator=operator)
        assert both.templates["warning.txt"] == "base warning"
        assert both.templates["task.txt"] == "op"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("a" + ".a" * 50_000 + " = 1", "nest more than 32 deep"),
            ("x = " + "[" * 1000 + "]" * 1000, "nest more than 32 deep"),
            ("x = " + "{a = " * 1000 + "1" + "}" * 1000, "nest more than 32 deep"),
            ("".join(f"[{'a.' * i}a]\n" for i in range(40)), "nest more than 32 deep"),
            ("x = 'a\n", "not valid TOML"),
        ],
    )
    def test_text_nested_too_deep_is_refused_before_parsing(
        self, text: str, message: str
    ) -> None:
        """TOML nested 1,000 deep (inline tables, arrays, headers) or a 100 KB
        dotted key: a clear error, found before tomllib recurses or allocates."""
        with pytest.raises(ConfigError, match=message):
            load_tenant_config(text)

    def test_a_mapping_nested_too_deep_is_refused(self) -> None:
        """The same for a mapping built in Python (no RecursionError)."""
        deep: dict[str, object] = {}
        for _ in range(5000):
            deep = {"a": deep}
        with pytest.raises(ConfigError, match="nest more than 32 deep"):
            load_tenant_config({"fields": deep})

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("rules", "gold", "items", 0, "name"), "gold \udc80"),
            (("rules", "gold", "items", 0, "id"), "all\x00"),
            (("calendars", "office", "weekly", "mon-fri"), "09:00-17:00\udfff"),
        ],
    )
    def test_a_text_no_store_keeps_is_refused_wherever_it_stands(
        self, path: tuple[object, ...], value: str
    ) -> None:
        """A lone surrogate or NUL anywhere in a mapping from a JSON API (a rule
        item's name, an id that becomes part of idempotency keys): refused with
        its path, not an encoding error when the settings are stored."""
        data = tomllib.loads(TENANT)
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        with pytest.raises(
            ConfigError, match="expected valid Unicode text without NUL"
        ):
            load_tenant_config(data)
        with pytest.raises(ConfigError, match="lone surrogate"):
            load_tenant_config({**data, "fields": {"\udc80": "text"}})

    def test_too_large_is_refused(self) -> None:
        """Text larger than the tenant limit is refused before it is parsed, and
        so are more calendars than a load may build (2,000 calendars with a
        country's holidays took 0.8 s: a 10 MB file about 40 s)."""
        from escalate.config import MAX_CALENDARS, MAX_TENANT_CHARS

        with pytest.raises(ConfigError, match="expected at most 2,000,000 char"):
            load_tenant_config("#" * (MAX_TENANT_CHARS + 1))
        calendars = {
            f"c{i}": {"tz": "UTC", "weekly": {"mon": "09:00-17:00"}}
            for i in range(MAX_CALENDARS + 1)
        }
        with pytest.raises(ConfigError, match="at most 1,000 calendars"):
            load_tenant_config({"calendars": calendars})

    def test_a_zone_that_is_a_folder_is_refused(self) -> None:
        """tz = "Europe" (a folder of the zone database): ConfigError, no
        IsADirectoryError."""
        with pytest.raises(ConfigError, match="IANA time zone name"):
            load_tenant_config(TENANT.replace('"Europe/Amsterdam"', '"Europe"'))

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (
                'lead = "lead@tenant.example"',
                'lead = "lead@example.com\\r\\nBcc: x@e.x"',
            ),
            (
                'sender = "helpdesk@tenant.example"',
                'sender = "a@b.example\\nBcc: x@e.x"',
            ),
            ('lead = "lead@tenant.example"', 'lead = "a@b.example, c@d.example"'),
        ],
    )
    def test_addresses_are_checked_as_the_mail_builder_will(
        self, old: str, new: str
    ) -> None:
        """A CR/LF (a smuggled Bcc) or a second address, in an address or the
        sender, is refused when loaded (before: accepted, then every tick
        failed every case)."""
        assert old in TENANT
        with pytest.raises(ConfigError, match="expected one e-mail address"):
            load_tenant_config(TENANT.replace(old, new))

    def test_a_logic_with_thousands_of_brackets_is_refused(self) -> None:
        """A logic string of 5,000 parentheses: a ConfigError, no RecursionError."""
        logic = "(" * 5000 + "1" + ")" * 5000
        text = TENANT.replace('id = "all"', f'id = "all"\nlogic = "{logic}"')
        text = text.replace(
            'hours = "office"\n[[',
            'hours = "office"\nconditions = [["priority", "=", "high"]]\n[[',
            1,
        )
        with pytest.raises(ConfigError, match="at most 1,000 characters"):
            load_tenant_config(text)


def _merge(into: dict[str, object], extra: dict[str, object]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)  # type: ignore[arg-type]
        else:
            into[k] = v


class TestSingleCompanyFile:
    """One file with both parts, written by the operator: its files stay in
    its folder, and nothing it cannot read is quoted back."""

    def write(self, folder: Path, extra: str) -> Path:
        path = folder / "escalate.toml"
        path.write_text(TENANT + extra)
        return path

    @pytest.mark.parametrize(
        "ical",
        ["/etc/shadow", "../../../../../../etc/passwd", "/proc/self/environ"],
    )
    def test_an_ical_file_outside_the_folder_is_refused(
        self, tmp_path: Path, ical: str
    ) -> None:
        """holidays.ical is a file inside the configuration's folder; the error
        quotes no line of the file named."""
        path = self.write(tmp_path, f'[calendars.office.holidays]\nical = "{ical}"\n')
        with pytest.raises(ConfigError, match="inside the configuration's folder") as e:
            load_config(path)
        assert "root:" not in str(e.value)

    def test_an_ical_file_that_is_no_calendar_is_not_quoted(
        self, tmp_path: Path
    ) -> None:
        """Inside the folder, a file that is not a calendar: the error says so
        and quotes none of it."""
        (tmp_path / "secret.ics").write_text("SECRET-LINE-1\nSECRET-LINE-2\n")
        path = self.write(
            tmp_path, '[calendars.office.holidays]\nical = "secret.ics"\n'
        )
        with pytest.raises(ConfigError, match="expected an iCalendar calendar") as e:
            load_config(path)
        assert "SECRET" not in str(e.value)

    def test_a_template_folder_outside_is_refused(self, tmp_path: Path) -> None:
        """templates.folder = "../secret" (or a link out) is refused."""
        secret = tmp_path / "secret"
        secret.mkdir()
        (secret / "escalation.txt").write_text("operator's")
        inner = tmp_path / "conf"
        inner.mkdir()
        path = self.write(inner, '[templates]\nfolder = "../secret"\n')
        with pytest.raises(ConfigError, match=r"templates\.folder: expected a folder"):
            load_config(path)
        (inner / "link").symlink_to(secret)
        path = self.write(inner, '[templates]\nfolder = "link"\n')
        with pytest.raises(ConfigError, match="inside the configuration's folder"):
            load_config(path)
        (inner / "templates").mkdir()
        (inner / "templates" / "escalation.txt").symlink_to(secret / "escalation.txt")
        path = self.write(inner, '[templates]\nfolder = "templates"\n')
        with pytest.raises(ConfigError, match="expected a template inside"):
            load_config(path)

    def test_both_parts_as_today(self, tmp_path: Path) -> None:
        """The example holds both parts: its mail folder is the operator's."""
        config = load_config(example_config())
        assert config.operator.mail_folder == example_config().parent / "mail"
        assert config.operator.smtp is None


class TestOperatorSettings:
    def test_the_operators_file(self, tmp_path: Path) -> None:
        """SMTP, the mail folder and the template folder, relative to the file."""
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "warning.txt").write_text("w")
        (tmp_path / "operator.toml").write_text(
            '[mail]\nfolder = "out"\n[mail.smtp]\nhost = "smtp.example"\n'
            'username = "u"\npassword_env = "SMTP_PASSWORD"\n'
            '[templates]\nfolder = "templates"\n'
        )
        operator = load_operator_settings(tmp_path / "operator.toml")
        assert operator.mail_folder == tmp_path / "out"
        assert operator.smtp == SmtpSettings(
            host="smtp.example", username="u", password_env="SMTP_PASSWORD"
        )
        assert dict(operator.templates) == {"warning.txt": "w"}

    def test_a_tenant_key_in_the_operators_file_is_refused(
        self, tmp_path: Path
    ) -> None:
        """The operator's file holds only the operator's keys."""
        (tmp_path / "operator.toml").write_text("[rules.gold]\n")
        with pytest.raises(ConfigError, match="rules: not an operator setting"):
            load_operator_settings(tmp_path / "operator.toml")
        (tmp_path / "operator.toml").write_text('[mail]\nsender = "a@b.example"\n')
        with pytest.raises(ConfigError, match=r"mail\.sender: not an operator"):
            load_operator_settings(tmp_path / "operator.toml")

    def test_sending_and_delivery_settings(self, tmp_path: Path) -> None:
        """[mail.smtp] timeout, deadline and reuse, and [mail.delivery]: what
        a worker sends with, its policy's send deadline the server's."""
        (tmp_path / "operator.toml").write_text(
            '[mail.smtp]\nhost = "smtp.example"\ntimeout = "10s"\nreuse = false\n'
            '[mail.delivery]\nmax_attempts = 4\nmax_age = "6h"\n'
            'first_retry = "30s"\nmax_retry = "10m"\n'
        )
        operator = load_operator_settings(tmp_path / "operator.toml")
        assert operator.smtp is not None
        assert (operator.smtp.timeout, operator.smtp.reuse) == (
            timedelta(seconds=10),
            False,
        )
        assert operator.delivery == DeliveryPolicy(
            max_attempts=4,
            max_age=timedelta(hours=6),
            first_retry=timedelta(seconds=30),
            max_retry=timedelta(minutes=10),
            send_deadline=timedelta(seconds=40),
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '[mail.smtp]\nhost = "h"\ntimeout = "2h"\n',
                "mail.smtp.timeout: expected more than 0s and at most 1h",
            ),
            (
                "[mail.delivery]\nmax_attempts = 0\n",
                "mail.delivery: max_attempts: expected 1 to 1000, got 0",
            ),
            ('[mail.delivery]\nmax_age = "0s"\n', "mail.delivery: max_age: expected"),
            ("[mail.delivery]\nretries = 3\n", "mail.delivery.retries"),
        ],
    )
    def test_bad_sending_settings_are_named(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        (tmp_path / "operator.toml").write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_operator_settings(tmp_path / "operator.toml")

    def test_a_login_without_tls_to_another_host_is_refused(self) -> None:
        """security = "none" with a login sends the password in plain text:
        refused but to this machine."""
        with pytest.raises(ConfigError, match="in plain text"):
            SmtpSettings(host="smtp.evil.example", security="none", password_env="P")
        SmtpSettings(host="127.0.0.1", security="none", password_env="P")
        SmtpSettings(host="localhost", security="none", username="u")


class TestCommandLine:
    def test_tick_with_operator_and_tenant_files(self, tmp_path: Path) -> None:
        """--operator FILE: --config is a tenant's settings; an operator key in
        it is refused before anything connects, and with none the mails go
        where the operator says."""
        tenant = tmp_path / "tenant.toml"
        tenant.write_text(
            TENANT + '[mail.smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n'
            'password_env = "OPERATOR_DB_PASSWORD"\n'
        )
        operator = tmp_path / "operator.toml"
        operator.write_text('[mail]\nfolder = "out"\n')
        db = tmp_path / "e.db"
        env = {**os.environ, "OPERATOR_DB_PASSWORD": "s3cret"}
        args = ["tick", "--config", tenant, "--operator", operator, "--db", db]
        result = subprocess.run(
            [sys.executable, "-m", "escalate.cli", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )
        assert result.returncode == 1
        assert "mail.smtp: an operator setting" in result.stderr
        assert "s3cret" not in result.stderr + result.stdout
        assert not db.exists()
        tenant.write_text(TENANT)
        result = subprocess.run(
            [sys.executable, "-m", "escalate.cli", *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out").is_dir()

    def test_check_finds_a_lone_surrogate_in_a_template(self, tmp_path: Path) -> None:
        """`escalate check` says a template with '\\udc80' is invalid (before:
        valid, then every tick failed every case with an encoding error)."""
        config = tmp_path / "escalate.toml"
        config.write_text(
            TENANT.replace(
                '"escalation.txt" = "Case {{ case.number }} needs you."',
                '"escalation.txt" = "{{ \'\\\\udc80\' }}"',
            )
        )
        result = subprocess.run(
            [sys.executable, "-m", "escalate.cli", "check", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 1
        assert "lone surrogate (U+DC80)" in result.stderr + result.stdout


class TestEscalatorAddresses:
    def test_the_python_api_checks_addresses_as_the_loader_does(self) -> None:
        """Escalator(addresses=..., sender=...) refuses a smuggled header too."""
        from datetime import UTC, datetime

        from escalate.adapters.memory import MemoryStore
        from escalate.engine import Escalator
        from escalate.rules import RuleBook
        from escalate.testing import RecordingMailer
        from escalate.timers import ManualClock

        clock = ManualClock(datetime(2026, 11, 23, tzinfo=UTC))
        for kwargs in (
            {"addresses": {"lead": "lead@example.com\r\nBcc: x@evil.example"}},
            {"sender": "a@b.example\nBcc: x@evil.example"},
        ):
            with pytest.raises(ConfigError, match="expected one e-mail address"):
                Escalator(
                    MemoryStore(), RecordingMailer(), clock, book=RuleBook(), **kwargs
                )
