"""escalate.templates: strict, sandboxed, bounded rendering."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pytest

from escalate.cli import main
from escalate.errors import TemplateError
from escalate.templates import Limits, Templates

INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ ''['__class__'] }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ dict.__base__.__subclasses__() }}",
]

EXHAUSTION = [
    "{{ 'a' * 1000000000 }}",
    "{{ [0] * 1000000000 }}",
    "{{ 1000000000 * 'a' }}",
    "{{ ('a' * 10000) * 10000 }}",
    "{{ 'a' * 100000 + 'b' * 100000 }}",
    "{{ 9 ** 999999999 }}",
    "{{ 'x'.ljust(1000000000) }}",
    "{{ 'x'.center(1000000000) }}",
    "{{ 'x'.zfill(1000000000) }}",
    "{{ '{:1000000000}'.format(1) }}",
    "{{ '{0:>1000000000}'.format_map({}) }}",
    "{{ 'x\t'.expandtabs(1000000000) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ ('a' * 1000).replace('a', 'a' * 1000) }}",
    "{{ ('x' * 1000).join(['a'] * 1000) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(1000000) %}{% endfor %}",
    "{% for i in range(50000) %}{{ 'x' * 100 }}{% endfor %}",
    "{{ 'a'|center(1000000000) }}",
    "{{ '%s'|format('x') }}",
    "{{ 'a'|indent(1000000000) }}",
    "{{ lipsum(1000000) }}",
]


class TestRefusals:
    @pytest.mark.parametrize("source", INJECTIONS)
    def test_python_internals_are_refused(self, source: str) -> None:
        """Reaching for Python internals raises TemplateError naming the template."""
        with pytest.raises(TemplateError, match=r"^template 'evil\.txt'") as e:
            Templates({"evil.txt": source}).render("evil.txt")
        assert e.value.template == "evil.txt"

    @pytest.mark.parametrize("source", EXHAUSTION)
    def test_exhaustion_is_refused_before_it_allocates(self, source: str) -> None:
        """Templates that would build huge values or outputs are refused."""
        with pytest.raises(TemplateError, match=r"^template 'bomb\.txt'"):
            Templates({"bomb.txt": source}).render("bomb.txt")

    def test_limits_are_configurable(self) -> None:
        """A smaller output limit refuses what the default allows."""
        source = "{{ 'x' * 1000 }}"
        assert len(Templates({"t": source}).render("t")) == 1000
        with pytest.raises(TemplateError, match="output exceeds 100 characters"):
            Templates({"t": source}, limits=Limits(output=100)).render("t")


class TestErrors:
    def test_missing_variable_names_template_and_line(self) -> None:
        """StrictUndefined: a missing variable is an error with its line."""
        with pytest.raises(TemplateError) as e:
            Templates(
                {"mail.txt": "Dear {{ name }},\n\ncase {{ case_number }}"}
            ).render("mail.txt", name="Ann")
        assert (e.value.template, e.value.line) == ("mail.txt", 3)
        assert "'case_number' is undefined" in str(e.value)

    def test_syntax_error_when_built(self) -> None:
        """A syntax error is found when the templates are built, with its line."""
        with pytest.raises(TemplateError, match=r"template 'x\.txt', line 2") as e:
            Templates({"x.txt": "fine\n{% if %}"})
        assert e.value.line == 2

    def test_missing_template(self) -> None:
        """Rendering a template that does not exist names the ones that do."""
        with pytest.raises(
            TemplateError, match=r"'nope' does not exist; templates: \['a'\]"
        ):
            Templates({"a": "x"}).render("nope")

    def test_template_error_is_a_value_error(self) -> None:
        """TemplateError is a ConfigError, so also a ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011
            Templates({"x": "{{ y }}"}).render("x")


class TestRendering:
    def test_html_is_autoescaped_text_is_not(self) -> None:
        """HTML parts escape values; text parts do not."""
        t = Templates(
            {
                "m.subject": "Case {{ n }}",
                "m.txt": "{{ who }}",
                "m.html": "<p>{{ who }}</p>",
            }
        )
        mail = t.render_mail("m", n="C-1", who="<Ann & Bob>")
        assert mail.text == "<Ann & Bob>"
        assert mail.html == "<p>&lt;Ann &amp; Bob&gt;</p>"

    def test_subject_is_one_line(self) -> None:
        """A subject's whitespace, newlines included, folds to single spaces."""
        t = Templates({"m.subject": "Case {{ n }}\n  escalated\n", "m.txt": "x"})
        assert t.render_mail("m", n="C-1").subject == "Case C-1 escalated"

    def test_html_part_is_optional(self) -> None:
        """Without an .html part, the mail is text only."""
        assert Templates({"m.subject": "s", "m.txt": "t"}).render_mail("m").html is None

    def test_ordinary_templates_work(self) -> None:
        """Loops, conditions, filters and ranges within the limits work."""
        source = (
            "{% for step in steps %}{{ loop.index }}. {{ step|upper }}"
            "{% if not loop.last %}, {% endif %}{% endfor %}"
            " {{ range(3)|list|length }} {{ 'ab' * 3 }}"
        )
        out = Templates({"t": source}).render("t", steps=["lead", "manager"])
        assert out == "1. LEAD, 2. MANAGER 3 ababab"


class TestRewrittenConstructs:
    """Loops, '~' and comparisons are rewritten to charge the budget; they keep
    jinja2's meaning."""

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("{{ 1 < 2 < 3 }} {{ 3 < 2 < 4 }} {{ 1 == 1 != 2 }}", "True False True"),
            (
                "{{ 'a' in 'abc' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }}",
                "True True True",
            ),
            ("{{ 'a' ~ 1 ~ none }}", "a1None"),
            ("{% for i in [3, 1] if i > 1 %}{{ i }}{% else %}-{% endfor %}", "3"),
            ("{% for i in [] %}{{ i }}{% else %}empty{% endfor %}", "empty"),
            ("{% for a, b in {'x': 1}.items() %}{{ a }}{{ b }}{% endfor %}", "x1"),
            ("{{ [1, 2, 3][1:] }} {{ 'abc'[::-1] }}", "[2, 3] cba"),
            ("{{ 7 // 2 }} {{ 7 % 2 }} {{ 7 / 2 }} {{ 7 - 2 }}", "3 1 3.5 5"),
        ],
    )
    def test_same_meaning(self, source: str, expected: str) -> None:
        assert Templates({"t": source}).render("t") == expected

    def test_concatenation_escapes_in_html(self) -> None:
        """'~' in an HTML part escapes its values, as jinja2's does."""
        out = Templates({"t.html": "{{ x ~ '&' }}"}).render("t.html", x="<b>")
        assert out == "&lt;b&gt;&amp;"

    def test_undefined_in_a_comparison_is_reported(self) -> None:
        """A missing variable inside a rewritten construct is still named."""
        with pytest.raises(TemplateError, match="'nope' is undefined"):
            Templates({"t": "{{ nope ~ 'x' }}"}).render("t")


class TestVariablesTable:
    """docs/templates.md lists exactly the variables the engine passes."""

    KINDS: Final = {
        "escalation": "case action",
        "assignment": "case action",
        "warning": "case action",
        "lead reminder": "lead step",
        "lead external": "lead step",
        "task overdue": "task reminder",
        "sla warning": "SLA action",
        "sla breach": "SLA action",
    }

    def documented(self) -> dict[str, set[str]]:
        text = (Path(__file__).parent.parent / "docs" / "templates.md").read_text()
        tables: dict[str, set[str]] = {}
        for part in re.split(r"^### ", text, flags=re.M)[1:]:
            kind = part.split(":", 1)[0]
            part = part.split("\n## ", 1)[0]  # up to the next section
            tables[kind] = set(re.findall(r"^\| `([\w.]+)` \|", part, re.M))
        return tables

    def test_the_table_equals_what_the_engine_passes(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The demo sends every kind of mail; each render's variables (and the
        keys of ``case``) are recorded and compared with the tables."""
        passed: dict[str, set[str]] = {}
        render_mail = Templates.render_mail
        kinds = self.KINDS

        def recording(self: Templates, name: str, /, **context: Any) -> Any:
            names = set(context)
            if "case" in context:
                names |= {f"case.{k}" for k in context["case"]}
            passed.setdefault(kinds[name], set()).update(names)
            return render_mail(self, name, **context)

        monkeypatch.setattr(Templates, "render_mail", recording)
        assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
        assert set(passed) == {
            "case action",
            "lead step",
            "task reminder",
            "SLA action",
        }
        assert passed == self.documented()
