"""`escalate check` and Config.problems(): the mistakes that would fail later."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from escalate.check import Severity
from escalate.cli import main
from escalate.config import Config, example_config, parse_config
from escalate.errors import ConfigError

EXAMPLE = example_config().read_text()
AT = datetime(2026, 11, 23, 9, tzinfo=UTC)


def config(*edits: tuple[str, str]) -> Config:
    text = EXAMPLE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_config(tomllib.loads(text), base=example_config().parent)


def found(c: Config) -> list[tuple[str, Severity, str]]:
    return [(p.path, p.severity, p.message) for p in c.problems(at=AT)]


def test_the_example_has_no_problems() -> None:
    assert found(config()) == []


class TestTemplates:
    def test_an_undefined_variable_is_an_error_at_the_step(self) -> None:
        c = config(
            ('"assignment.txt" = "Case', '"assignment.txt" = "{{ case.prio }} Case')
        )
        problems = found(c)  # both steps with a new owner send it
        assert [p for p, _, _ in problems] == [
            "rules.standard.items[0].actions[1].notify_template",
            "rules.standard.items[1].actions[1].notify_template",
        ]
        _, severity, message = problems[0]
        assert severity is Severity.ERROR
        assert "undefined variable" in message
        assert "prio" in message

    def test_a_missing_template_is_an_error(self) -> None:
        c = config(
            (
                'escalate_to = "mark"',
                'escalate_to = "mark"\nescalation_template = "boss"',
            )
        )
        ((path, _, message),) = found(c)
        assert path == "rules.standard.items[0].actions[1].escalation_template"
        assert "'boss.subject' does not exist" in message

    def test_the_warning_template_gets_a_threshold(self) -> None:
        c = config(
            ('"warning.txt" = "Case', '"warning.txt" = "{{ threshold * 100 }}% Case')
        )
        assert found(c) == []
        c = config(('"warning.txt" = "Case', '"warning.txt" = "{{ thresold }} Case'))
        assert [p for p, _, _ in found(c)] == ["mail.warning_template"]

    def test_lead_and_task_templates(self) -> None:
        c = config(
            ('"task overdue.txt" = "The task', '"task overdue.txt" = "{{ task.name }}'),
            ('"lead external.txt" = "Please', '"lead external.txt" = "{{ agency }}'),
        )
        assert [p for p, _, _ in found(c)] == [
            "mail.task_template",
            "mail.lead_external_template",
        ]


class TestUsers:
    def test_a_user_without_an_address_is_an_error(self) -> None:
        c = config(('escalate_to = "diana"', 'escalate_to = "dianna"'))
        ((path, severity, message),) = found(c)
        assert path == "rules.standard.items[0].actions[2].escalate_to"
        assert severity is Severity.ERROR
        assert "'dianna' has no address" in message

    def test_a_queue_user_without_an_address_is_a_warning(self) -> None:
        """New cases go to the queue user: warnings to their owner need it."""
        c = config(('queue_user = "queue"', 'queue_user = "the-queue"'))
        ((path, severity, message),) = found(c)
        assert (path, severity) == ("assignment.queue_user", Severity.WARNING)
        assert "'the-queue' has no address" in message

    def test_a_responsible_user_without_an_address(self) -> None:
        c = config(
            (
                '[leads.teams.phone.south]\nresponsible = ["sam"]',
                '[leads.teams.phone.south]\nresponsible = ["samuel"]',
            )
        )
        assert [p for p, _, _ in found(c)] == ["leads.teams.phone.south.responsible"]

    def test_a_team_without_responsible_users(self) -> None:
        c = config(('[leads.teams.phone.south]\nresponsible = ["sam"]\n', ""))
        ((path, _, message),) = found(c)
        assert path == "leads.teams.phone.south"
        assert "no responsible users" in message


class TestRules:
    def test_an_active_rule_with_no_items(self) -> None:
        c = config(
            ("[rules.standard]", "[rules.empty]\n\n[rules.standard]"),
            ('active = "standard"', 'active = "empty"'),
        )
        assert found(c) == [
            (
                "rules.empty",
                Severity.WARNING,
                "the active rule has no items: nothing escalates",
            )
        ]

    def test_no_active_rule_with_the_scheduler_on(self) -> None:
        c = config(
            ("[rules.standard]", "[rules.other]\n\n[rules.standard]"),
            ('active = "standard"\n', ""),
        )
        assert [(p, s) for p, s, _ in found(c)] == [
            ("escalation.active", Severity.WARNING)
        ]

    def test_an_item_after_a_catch_all_can_never_govern(self) -> None:
        c = config(
            (
                'conditions = [["customer", "=", "gold"], ["priority", "in", ["high", "urgent"]]]\nlogic = "1 OR 2"\n',
                "",
            )
        )
        ((path, severity, message),) = found(c)
        assert path == "rules.standard.items[1]"
        assert severity is Severity.WARNING
        assert "'others' can never govern: the earlier item 'gold'" in message

    def test_an_item_whose_conditions_include_an_earlier_items(self) -> None:
        c = config(
            ('logic = "1 OR 2"\n', ""),
            (
                'id = "others"\nname = "Everyone else"\n',
                'id = "others"\nname = "Everyone else"\nconditions = [["priority", "in", ["high", "urgent"]], ["customer", "=", "gold"], ["owner", "=", "ann"]]\n',
            ),
        )
        ((path, _, message),) = found(c)
        assert path == "rules.standard.items[1]"
        assert "subset" in message

    def test_or_logic_is_not_taken_for_a_catch_all(self) -> None:
        c = config(
            (
                'id = "others"\nname = "Everyone else"\n',
                'id = "others"\nname = "Everyone else"\nconditions = [["customer", "=", "gold"]]\n',
            ),
        )
        assert found(c) == []

    def test_a_ladder_out_of_order(self) -> None:
        c = config(
            ('after = "4h"\nescalate_to = "mark"', 'after = "1h"\nescalate_to = "mark"')
        )
        ((path, severity, message),) = found(c)
        assert path == "rules.standard.items[0].actions[1].after"
        assert severity is Severity.WARNING
        assert "'manager' (1h) is not later than" in message


class TestCalendars:
    def test_a_calendar_that_never_opens(self) -> None:
        c = config(
            (
                'weekly = { mon-fri = "08:00-18:00", sat = "10:00-14:00" }',
                'weekly = { mon-fri = "08:00-18:00" }\nspecial_days = { "2026-11-23" = "closed" }',
            ),
            (
                'holidays = { country = "NL" }',
                "holidays = { dates = ["
                + ", ".join(f"2026-{m:02d}-{d:02d}" for m, d in [])
                + "] }",
            ),
        )
        assert found(c) == []  # it opens; now close it entirely:
        c = config(
            ('weekly = { mon-fri = "08:00-18:00", sat = "10:00-14:00" }', "weekly = {}")
        )
        ((path, severity, message),) = found(c)
        assert (path, severity) == ("calendars.sales", Severity.ERROR)
        assert "never opens within a year" in message


class TestFields:
    def test_a_misspelt_field_is_an_error_at_load(self) -> None:
        with pytest.raises(
            ConfigError,
            match=r"conditions\[0\]: the field 'custmer' is not declared in \[fields\]; did you mean 'customer'\?",
        ):
            config(('[["customer", "=", "gold"]', '[["custmer", "=", "gold"]'))

    def test_a_value_of_the_wrong_type(self) -> None:
        with pytest.raises(
            ConfigError,
            match=r"expected one of \['gold', 'silver', 'standard'\], got 'platinum'",
        ):
            config(('[["customer", "=", "gold"]', '[["customer", "=", "platinum"]'))
        with pytest.raises(
            ConfigError, match=r"'seats' is integer: expected an integer, got 'ten'"
        ):
            config(
                ("customer = { type", 'seats = "integer"\ncustomer = { type'),
                ('[["customer", "=", "gold"]', '[["seats", ">", "ten"]'),
            )

    def test_each_value_of_an_in_list(self) -> None:
        with pytest.raises(ConfigError, match="got 'bronze'"):
            config(
                (
                    '[["customer", "=", "gold"]',
                    '[["customer", "in", ["gold", "bronze"]]',
                )
            )

    def test_field_types(self) -> None:
        c = config(
            (
                "customer = { type",
                'seats = "integer"\nrevenue = "decimal"\nsince = "date"\nregion = "text"\ncustomer = { type',
            ),
            (
                '[["customer", "=", "gold"]',
                '[["seats", ">", 10], ["revenue", ">=", 2.5], ["since", "<", 2026-01-01], ["region", "=", "north"]',
            ),
            ('logic = "1 OR 2"', 'logic = "1 OR 2 OR 3 OR 4 OR 5"'),
        )
        assert found(c) == []
        assert set(c.fields or {}) == {
            "seats",
            "revenue",
            "since",
            "region",
            "customer",
        }

    def test_an_unknown_type_and_a_case_attribute(self) -> None:
        with pytest.raises(
            ConfigError, match=r"fields.customer.type: expected one of 'text'"
        ):
            config(('type = "choice"', 'type = "enum"'))
        with pytest.raises(
            ConfigError, match=r"fields.priority: expected a custom field"
        ):
            config(("customer = { type", 'priority = "text"\ncustomer = { type'))

    def test_a_field_that_is_neither_a_type_nor_a_table(self) -> None:
        with pytest.raises(
            ConfigError, match=r"fields.seats: expected a type \('text'"
        ):
            config(("customer = { type", 'seats = [""]\ncustomer = { type'))

    def test_without_fields_conditions_are_a_warning(self) -> None:
        c = config(
            (
                'customer = { type = "choice", values = ["gold", "silver", "standard"] }',
                "",
            ),
            ("[fields]\n", ""),
        )
        ((path, severity, message),) = found(c)
        assert (path, severity) == (
            "rules.standard.items[0].conditions[0]",
            Severity.WARNING,
        )
        assert "'customer' is not declared" in message


class TestKeys:
    def test_a_misspelt_key_is_named(self) -> None:
        with pytest.raises(
            ConfigError,
            match=r"actions\[0\].escalte_to: unknown key; did you mean 'escalate_to'\?",
        ):
            config(('escalate_to = "tessa"', 'escalte_to = "tessa"'))

    def test_an_optional_misspelt_key_is_named(self) -> None:
        with pytest.raises(
            ConfigError, match=r"new_ower: unknown key; did you mean 'new_owner'\?"
        ):
            config(('new_owner = "mark"', 'new_ower = "mark"'))

    def test_holiday_dates_are_dates(self) -> None:
        with pytest.raises(
            ConfigError,
            match=r"holidays.dates\[0\]: expected a date like 2026-12-28 \(a whole day, no time\), got 2026-12-28T10:00:00",
        ):
            config(("dates = [2026-12-28]", "dates = [2026-12-28T10:00:00]"))


class TestCli:
    def run(
        self, tmp_path: Path, *edits: tuple[str, str], strict: bool = False
    ) -> tuple[int, str]:
        text = EXAMPLE
        for old, new in edits:
            text = text.replace(old, new, 1)
        path = tmp_path / "helpdesk.toml"
        path.write_text(text)
        args = ["check", "--config", str(path), "--now", AT.isoformat()]
        return main([*args, "--strict"] if strict else args), str(path)

    def test_errors_exit_1_warnings_only_with_strict(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out_of_order = (
            'after = "4h"\nescalate_to = "mark"',
            'after = "1h"\nescalate_to = "mark"',
        )
        assert self.run(tmp_path, out_of_order)[0] == 0
        assert (
            "warning: rules.standard.items[0].actions[1].after:"
            in capsys.readouterr().out
        )
        assert self.run(tmp_path, out_of_order, strict=True)[0] == 1
        assert "not valid (0 errors, 1 warnings)" in capsys.readouterr().out
        assert (
            self.run(tmp_path, ('escalate_to = "diana"', 'escalate_to = "dianna"'))[0]
            == 1
        )
        assert (
            "error: rules.standard.items[0].actions[2].escalate_to"
            in capsys.readouterr().out
        )


class TestSlaTemplates:
    def test_sla_templates_are_rendered_when_there_are_policies(self) -> None:
        """A missing or broken SLA template is an error at the first target
        that would use it; a configuration without [sla] needs none."""
        c = config(('"sla breach.subject"', '"sla braech.subject"'))
        ((path, severity, message),) = found(c)
        assert path == "sla.policies[0].targets[0] (sla breach)"
        assert severity is Severity.ERROR
        assert "'sla breach.subject' does not exist" in message
        c = config(("at {{ percent }}%", "at {{ percentage }}%"))
        ((path, _, message),) = found(c)
        assert path == "sla.policies[0].targets[0] (sla warning)"
        assert "percentage" in message
        head, rest = EXAMPLE.split("# -- service levels")
        without = head + "# -- mail" + rest.split("# -- mail", 1)[1]
        broken = without.replace('"sla breach.subject"', '"sla braech.subject"')
        assert "[sla]" not in broken
        c = parse_config(tomllib.loads(broken), base=example_config().parent)
        assert found(c) == []


class TestSlaPolicies:
    """The careless admin's SLA mistakes, each of which runs without an error
    and silently measures something else."""

    def test_a_policy_after_a_catch_all_never_applies(self) -> None:
        c = config(('conditions = [["customer", "=", "gold"]]\n\n  [[sla', "\n  [[sla"))
        ((path, severity, message),) = found(c)
        assert (path, severity) == ("sla.policies[1]", Severity.WARNING)
        assert message.startswith(
            "policy 'standard' never applies: the earlier policy 'gold' "
            "(sla.policies[0]) has no conditions"
        )

    def test_a_policy_whose_conditions_include_an_earlier_ones(self) -> None:
        c = config(
            (
                'id = "standard"\n',
                'id = "standard"\n'
                'conditions = [["priority", "=", "urgent"], ["customer", "=", "gold"]]\n',
            )
        )
        ((path, _, message),) = found(c)
        assert path == "sla.policies[1]"
        assert "'gold' (sla.policies[0]) matches every case it matches" in message
        # OR logic is not solved: no warning
        c = config(
            (
                'id = "standard"\n',
                'id = "standard"\nconditions = [["priority", "=", "urgent"], '
                '["customer", "=", "gold"]]\nlogic = "1 OR 2"\n',
            )
        )
        assert found(c) == []

    def test_a_pause_status_spelt_otherwise_than_the_status(self) -> None:
        """'pending' is not 'Pending': a case waiting on the customer would go
        on counting."""
        c = config(('pauses = { "Pending" = ', 'pauses = { "pending" = '))
        ((path, severity, message),) = found(c)
        assert (path, severity) == ("sla.pauses.pending", Severity.WARNING)
        assert message == (
            "'pending' is not the status 'Pending': statuses are matched exactly, "
            "so a case in 'Pending' does not pause these metrics"
        )
        c = config(
            ("[escalation.expiry]  #", '[escalation.expiry]\npending = "On hold"  #'),
            ('pauses = { "Pending" = ', 'pauses = { "On Hold" = '),
        )
        assert [p for p, _, _ in found(c)] == ["sla.pauses.On Hold"]
        # a status of the CRM's own that escalate does not know: no guess
        c = config(('pauses = { "Pending" = ', 'pauses = { "Waiting on vendor" = '))
        assert found(c) == []

    def test_a_priority_spelt_two_ways(self) -> None:
        c = config(
            (
                'metric = "resolution"\n  priority = "urgent"',
                'metric = "resolution"\n  priority = "Urgent"',
            )
        )
        ((path, _, message),) = found(c)
        assert path == "sla.policies[1].targets[2].priority"
        assert message.startswith(
            "'Urgent' differs from 'urgent' (sla.policies[1]) only in case or spaces"
        )
