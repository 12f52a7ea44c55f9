"""Templates written by an attacker: each is refused, fast, in bounded memory.

Every attack renders in a forked child with a hard CPU limit of 1 s and an
address-space allowance of 256 MB over what the parent holds, so a regression fails
(the child is killed, or runs out of memory) instead of hanging the test run. What
the child reports must be a TemplateError naming the template and what refused it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import resource
import select
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate import _template_calls
from escalate.errors import TemplateError
from escalate.templates import Limits, Templates

#: What refused an attack: a limit (by its name), the allow-list, or the sandbox.
SIZE, ITERATIONS, WORK, DEPTH, BITS, SOURCE, OUTPUT = (
    f"Limits.{n}"
    for n in ("size", "iterations", "work", "depth", "number_bits", "source", "output")
)
REFUSED = "not allowed"
SANDBOX = "refused by the sandbox"
NO_FILTER = "there is no filter"
UNDEFINED = "is undefined"

S = "{% set s = 'x' * 100000 %}"

ATTACKS: dict[str, tuple[str, str]] = {
    # loops other than range
    "slice a list into a billion": (
        "{% for s in [1]|slice(1000000000) %}{% endfor %}",
        SIZE,
    ),
    "batch with a billion fill": ("{{ [1]|batch(1000000000, 'x')|list }}", SIZE),
    "recursive macro": (
        "{% macro f(n) %}{{ f(n-1) }}{{ f(n-1) }}{% endmacro %}{{ f(40) }}",
        "macros are " + REFUSED,
    ),
    "recursive loop": (
        "{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}",
        "recursive loops are " + REFUSED,
    ),
    "call block": (
        "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}x{% endcall %}",
        REFUSED,
    ),
    "nested loops over a long text": (
        "{% set s = 'x' * 10000 %}{% for a in s %}{% for b in s %}{% endfor %}"
        "{% endfor %}",
        ITERATIONS,
    ),
    "nested ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
        "{% endfor %}",
        ITERATIONS,
    ),
    "a range of a billion": ("{{ range(1000000000)|list }}", SIZE),
    "a huge range in a loop": ("{% for i in range(10000000000) %}{% endfor %}", SIZE),
    "loops that add up": (
        "{% for i in range(60000) %}{% endfor %}{% for i in range(60000) %}"
        "{% endfor %}",
        ITERATIONS,
    ),
    "loop over a filtered iterator": (
        "{% for i in range(100000)|map('string') %}{% for j in 'abc' %}{% endfor %}"
        "{% endfor %}",
        ITERATIONS,
    ),
    "loop.length over a long iterator": (
        "{% for i in range(100000)|select %}{{ loop.length }}{% endfor %}",
        ITERATIONS,
    ),
    # filters that build
    "replace with a long text": ("{{ ('x' * 1000)|replace('x', 'y' * 100000) }}", SIZE),
    "replace the empty text": ("{{ ('x' * 1000)|replace('', 'y' * 1000) }}", SIZE),
    "join a repeated list": ("{{ (['y' * 100000] * 100000)|join }}", SIZE),
    "join with a long separator": ("{{ range(1000)|join('x' * 100000) }}", SIZE),
    "tojson of a repeated list": ("{{ (['y' * 50000] * 100000)|tojson }}", SIZE),
    "sum of lists": (
        "{{ ([[0] * 100000] * 100000)|sum(start=[]) }}",
        "sum adds numbers",
    ),
    "string of a repeated list": ("{{ (['y' * 1000] * 1000)|string }}", SIZE),
    "list of a long text, as text": ("{{ (('x' * 100000)|list)|string }}", SIZE),
    "escape that grows": ("{{ ('<' * 100000)|e }}", SIZE),
    "urlencode that grows": ("{{ (' ' * 90000)|urlencode }}", SIZE),
    "unique over nested lists": (
        "{{ ([[0] * 100000] * 100000)|unique|list }}",
        WORK,
    ),
    "map to join": (
        "{{ (['y' * 100000] * 100)|map('join')|map('length')|sum }}",
        WORK,
    ),
    "sort by a long attribute path": (
        "{{ (['x'] * 1000)|sort(attribute='0' ~ '.0' * 20000)|length }}",
        WORK,
    ),
    "join by a long attribute path": (
        "{{ (['x'] * 1000)|join(attribute='0' ~ '.0' * 20000)|length }}",
        WORK,
    ),
    "map by a long attribute path": (
        "{{ (['x'] * 1000)|map(attribute='0' ~ '.0' * 20000)|list|length }}",
        WORK,
    ),
    "selectattr by a long attribute path": (
        "{{ (['x'] * 1000)|selectattr('0' ~ '.0' * 20000)|list|length }}",
        WORK,
    ),
    "unique by a long attribute path": (
        "{{ (['x'] * 1000)|unique(attribute='0' ~ '.0' * 20000)|list|length }}",
        WORK,
    ),
    "max by a long attribute path": (
        "{{ (['x'] * 1000)|max(attribute='0' ~ '.0' * 20000) }}",
        WORK,
    ),
    "groupby by a long attribute path": (
        "{{ (['x'] * 1000)|groupby('0' ~ '.0' * 20000)|list|length }}",
        WORK,
    ),
    "sum by a long attribute path": (
        "{{ (['x'] * 1000)|sum(attribute='0' ~ '.0' * 20000) }}",
        WORK,
    ),
    "center filter": ("{{ 'a'|center(1000000000) }}", NO_FILTER),
    "indent filter": ("{{ 'a'|indent(1000000000) }}", NO_FILTER),
    "wordwrap filter": ("{{ ('a ' * 50000)|wordwrap(1) }}", NO_FILTER),
    "format filter": ("{{ '%s'|format('x') }}", NO_FILTER),
    "pprint filter": ("{{ range(10)|pprint }}", NO_FILTER),
    "random filter": ("{{ range(10)|random }}", NO_FILTER),
    "safe filter": ("{{ '<script>'|safe }}", NO_FILTER),
    "an unknown filter inside if": (
        "{% if 0 %}{{ x|center(10) }}{% endif %}",
        NO_FILTER,
    ),
    # operators and methods that grow
    "repeat text": ("{{ 'a' * 1000000000 }}", SIZE),
    "repeat a list": ("{{ [0] * 1000000000 }}", SIZE),
    "repeat, number first": ("{{ 1000000000 * 'a' }}", SIZE),
    "repeat a repeat": ("{{ ('a' * 10000) * 10000 }}", SIZE),
    "add two long texts": ("{{ 'a' * 100000 + 'b' * 100000 }}", SIZE),
    "add long lists": ("{{ [0] * 100000 + [1] * 100000 }}", SIZE),
    "power": ("{{ 9 ** 999999999 }}", "the '**' operator is " + REFUSED),
    "multiply big numbers": ("{{ ('9' * 4000)|int * ('9' * 4000)|int }}", BITS),
    "multiply numbers in a chain": (
        "{% set n = 99999999999999999999999999999999 %}"
        "{% set m = n * n * n * n * n * n * n * n %}"
        "{{ m * m * m * m * m * m * m * m }}",
        BITS,
    ),
    "concatenate long texts": (S + "{{ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s }}", SIZE),
    "concatenate to a gigabyte": (
        "{% set a = 'x' * 50000 %}{% set b = a ~ a %}{% set c = b ~ b %}"
        "{% set d = c ~ c %}{{ d }}",
        SIZE,
    ),
    "concatenate a repeated list": ("{{ (['x' * 100000] * 1000) ~ '' }}", SIZE),
    "concatenate in a loop": (
        S + "{% for i in range(100000) %}{% set t = s ~ 'y' %}{% endfor %}",
        SIZE,
    ),
    "update a dict in a loop": (
        "{% set d = dict(s='x') %}{% for i in range(100) %}"
        "{% set _ = d.update(s=d.s ~ d.s) %}{% endfor %}",
        SANDBOX,
    ),
    "append to a list": (
        "{% set l = [] %}{% for i in range(100000) %}"
        "{% set _ = l.append('x' * 100000) %}{% endfor %}",
        SANDBOX,
    ),
    "extend a list": ("{% set l = [] %}{{ l.extend([0] * 100000) }}", SANDBOX),
    "translate": ("{{ 'x'.translate({120: 'y' * 100000}) }}", REFUSED),
    "ljust": ("{{ 'x'.ljust(1000000000) }}", SIZE),
    "center": ("{{ 'x'.center(1000000000) }}", SIZE),
    "zfill": ("{{ 'x'.zfill(1000000000) }}", SIZE),
    "replace method": ("{{ ('a' * 1000).replace('a', 'a' * 1000) }}", SIZE),
    "join method": ("{{ ('x' * 1000).join(['a'] * 1000) }}", SIZE),
    "split into many": ("{{ ('x' * 100000).split('x') }}", SIZE),
    "format method": ("{{ '{:1000000000}'.format(1) }}", REFUSED),
    "format_map": ("{{ '{0:>1000000000}'.format_map({}) }}", REFUSED),
    "expandtabs": ("{{ 'x\\t'.expandtabs(1000000000) }}", REFUSED),
    "percent formatting": ("{{ '%1000000000d' % 1 }}", REFUSED),
    "strftime with a long format": ("{{ now.strftime('%c' * 50000) }}", SIZE),
    "encode": ("{{ 'x'.encode('utf-32') }}", REFUSED),
    # work: each step small, many of them
    "build in a loop": (
        "{% for i in range(100000) %}{% set x = 'x' * 100000 %}{% endfor %}",
        WORK,
    ),
    "compare in a loop": (
        "{% for i in range(100000) %}{{ ('x' * 100000) == ('y' * 100000) }}"
        "{% endfor %}",
        WORK,
    ),
    "search in a loop": (
        S + "{% for i in range(100000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
        WORK,
    ),
    "find in a loop": (
        S + "{% for i in range(100000) %}{{ s.find('y') }}{% endfor %}",
        WORK,
    ),
    "sort in a loop": (
        "{% set l = range(100000)|list %}{% for i in range(1000) %}"
        "{{ l|sort|length }}{% endfor %}",
        WORK,
    ),
    "output in a loop": (
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        OUTPUT,
    ),
    "text in a loop": (
        "{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}",
        OUTPUT,
    ),
    # nesting, while compiling
    "nested parentheses": ("{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}", DEPTH),
    "nested lists": ("{{ " + "[" * 1000 + "]" * 1000 + " }}", DEPTH),
    "nested dicts": ("{{ " + "{'a': " * 1000 + "1" + "}" * 1000 + " }}", DEPTH),
    "nested ifs": ("{% if 1 %}" * 200 + "{% endif %}" * 200, DEPTH),
    "nested loops": ("{% for a in [1] %}" * 200 + "{% endfor %}" * 200, DEPTH),
    "nested withs": ("{% with a = 1 %}" * 200 + "{% endwith %}" * 200, DEPTH),
    "nested set blocks": ("{% set a %}" * 200 + "{% endset %}" * 200, DEPTH),
    "many nots": ("{{ " + "not " * 1000 + "1 }}", DEPTH),
    "many minus signs": ("{{ " + "- " * 1000 + "1 }}", DEPTH),
    "a long sum": ("{{ 1" + " + 1" * 5000 + " }}", DEPTH),
    "a long filter chain": ("{{ 'x'" + "|upper" * 2000 + " }}", DEPTH),
    "a long attribute chain": ("{{ x" + ".y" * 2000 + " }}", DEPTH),
    "nested conditions": ("{{ " + "1 if 1 else " * 1000 + "1 }}", DEPTH),
    "nested calls": ("{{ " + "dict(a=" * 1000 + "1" + ")" * 1000 + " }}", DEPTH),
    "a huge template": ("x" * 200_000, SOURCE),
    # reaching out
    "class of a text": ("{{ ''.__class__.__mro__ }}", SANDBOX),
    "globals of range": ("{{ range.__globals__ }}", "has no attribute"),
    "self": ("{{ self.__init__.__globals__ }}", SANDBOX),
    "lipsum": ("{{ lipsum(1000000) }}", UNDEFINED),
    "cycler": ("{{ cycler.__init__.__globals__.os }}", SANDBOX),
    "namespace": ("{% set ns = namespace(x=1) %}", UNDEFINED),
    "attr to a dunder": (
        "{{ (range(3)|map('attr', '__class__')|first).__name__ }}",
        SANDBOX,
    ),
    "include": ("{% include 'a.txt' %}", REFUSED),
    "import": ("{% import 'a.txt' as a %}", REFUSED),
    "extends": ("{% extends 'a.txt' %}", REFUSED),
    "autoescape off": ("{% autoescape false %}{{ x }}{% endautoescape %}", REFUSED),
}

# -- every filter and test of the allow-list, with an input built to exhaust it ------

#: A list of 100,000 references to one text of 100,000 characters: cheap to
#: build (the list holds references), 10^10 characters to anything that walks
#: its text (compare, lower-case, hash, turn into text).
L = "(['y' * 100000] * 100000)"
#: A loop long enough that anything in it, however cheap, runs out of budget.
MANY = "{% for i in range(100000) %}{% for j in 'ab' %}"
END = "{% endfor %}{% endfor %}"
#: What a loop of cheap calls is refused by: its iterations or its work.
LOOP = r"Limits\.(iterations|work|output)"

FILTER_ATTACKS: dict[str, tuple[str, str]] = {
    "abs": (MANY + "{{ -i|abs }}" + END, LOOP),
    "attr": (MANY + "{{ now|attr('year') }}" + END, LOOP),
    "batch": ("{{ [1]|batch(1000000000, 'x')|list }}", SIZE),
    "capitalize": ("{{ " + L + "|capitalize }}", SIZE),
    "count": (MANY + "{{ " + L + "|count }}" + END, LOOP),
    "d": (MANY + "{{ nothing|d(" + L + ")|length }}" + END, LOOP),
    "default": (MANY + "{{ nothing|default(" + L + ")|length }}" + END, LOOP),
    "dictsort": (
        "{% set d = {'y' * 100000: 1, 'y' * 99999 ~ 'z': 2} %}"
        "{% for i in range(1000) %}{{ d|dictsort|length }}{% endfor %}",
        WORK,
    ),
    "duration": (MANY + "{{ after|duration(days=true) }}" + END, LOOP),
    "e": ("{{ ('<' * 100000)|e }}", SIZE),
    "escape": ("{{ " + L + "|escape }}", SIZE),
    "first": (MANY + "{{ " + L + "|first|length }}" + END, LOOP),
    "float": ("{{ " + L + "|float }}", SIZE),
    "forceescape": ("{{ ('&' * 100000)|forceescape }}", SIZE),
    "groupby": ("{{ " + L + "|groupby(0)|list }}", WORK),
    "int": ("{{ " + L + "|int }}", SIZE),
    "items": (MANY + "{{ case|items|list|length }}" + END, LOOP),
    "join": ("{{ " + L + "|join }}", SIZE),
    "last": (MANY + "{{ " + L + "|last|length }}" + END, LOOP),
    "length": (MANY + "{{ " + L + "|length }}" + END, LOOP),
    "list": ("{{ range(1000000000)|list }}", SIZE),
    "local": (MANY + "{{ now|local('Pacific/Chatham') }}" + END, LOOP),
    "lower": ("{{ " + L + "|lower }}", SIZE),
    "map": ("{{ " + L + "|map('upper')|list }}", LOOP),
    "max": ("{{ " + L + "|max }}", WORK),
    "min": ("{{ " + L + "|min }}", WORK),
    "reject": ("{{ " + L + "|reject('lower')|list }}", LOOP),
    "rejectattr": (
        "{% for k in 'ab' %}{{ " + L + "|rejectattr('0', 'eq', 'y')|list }}"
        "{% endfor %}",
        LOOP,
    ),
    "replace": ("{{ ('x' * 1000)|replace('x', 'y' * 100000, 1000000000) }}", SIZE),
    "reverse": ("{{ range(1000000000)|reverse|list }}", SIZE),
    "round": ("{{ 1.5|round(100000000, 'ceil') }}", "round: expected a precision"),
    "select": ("{{ " + L + "|select('upper')|list }}", LOOP),
    "selectattr": (
        "{% for k in 'ab' %}{{ " + L + "|selectattr('0', 'eq', 'y')|list|length }}"
        "{% endfor %}",
        LOOP,
    ),
    "slice": ("{{ [1]|slice(1000000000, 'x')|list }}", SIZE),
    "sort": ("{{ " + L + "|sort|length }}", WORK),
    "string": ("{{ " + L + "|string }}", SIZE),
    "striptags": ("{{ " + L + "|striptags }}", SIZE),
    "sum": ("{{ range(1000000000)|sum }}", SIZE),
    "title": ("{{ " + L + "|title }}", SIZE),
    "tojson": ("{{ (range(10000)|list)|tojson(indent=1000000000) }}", SIZE),
    "trim": ("{{ ('x' * 100000)|trim('y' * 100000) }}", WORK),
    "truncate": ("{{ " + L + "|truncate(1000000000, end='y' * 100000) }}", SIZE),
    "unique": ("{{ " + L + "|unique|list|length }}", WORK),
    "upper": ("{{ " + L + "|upper }}", SIZE),
    "urlencode": ("{{ (' ' * 90000)|urlencode }}", SIZE),
    "wordcount": ("{{ " + L + "|wordcount }}", SIZE),
}

_CHEAP_TESTS = (
    "defined undefined none boolean true false integer float number string mapping "
    "sequence iterable escaped"
)
_COMPARING_TESTS = [
    "eq",
    "equalto",
    "==",
    "ne",
    "!=",
    "lt",
    "lessthan",
    "<",
    "le",
    "<=",
    "gt",
    "greaterthan",
    ">",
    "ge",
    ">=",
]
TEST_ATTACKS: dict[str, tuple[str, str]] = {
    **{
        name: (MANY + "{{ " + L + " is " + name + " }}" + END, LOOP)
        for name in _CHEAP_TESTS.split()
    },
    "sameas": (MANY + "{{ " + L + " is sameas(" + L + ") }}" + END, LOOP),
    "odd": (MANY + "{{ i is odd }}" + END, LOOP),
    "even": (MANY + "{{ i is even }}" + END, LOOP),
    "divisibleby": (
        MANY + "{{ ('9' * 1200)|int is divisibleby(7) }}" + END,
        LOOP,
    ),
    **{
        name: ("{{ " + L + "|select('" + name + "', 'y' * 100000)|list }}", LOOP)
        for name in _COMPARING_TESTS
    },
    "lower": (MANY + "{{ ('x' * 100000) is lower }}" + END, WORK),
    "upper": (MANY + "{{ ('X' * 100000) is upper }}" + END, WORK),
    "in": (
        "{% set l = " + L + " %}{% for i in range(14) %}"
        "{{ ('y' * 99999 ~ 'z') is in l }}{% endfor %}",
        WORK,
    ),
}

#: The reproducers of the templates that escaped their budget.
ESCAPED_BEFORE: dict[str, tuple[str, str]] = {
    "round to a billion places down": ("{{ 123456|round(-1000000000) }}", "round"),
    "round a billion places up": ("{{ 1.5|round(100000000, 'ceil') }}", "round"),
    "tojson with a huge indent": (
        "{{ (range(10000)|list)|tojson(indent=100000) }}",
        SIZE,
    ),
    "tojson with a long text indent": (
        "{{ (range(10000)|list)|tojson(indent='x' * 100000) }}",
        SIZE,
    ),
    "sort long texts case-insensitively": FILTER_ATTACKS["sort"],
    "unique of long texts": FILTER_ATTACKS["unique"],
    "max of long texts": FILTER_ATTACKS["max"],
    "min of long texts": FILTER_ATTACKS["min"],
    "in over long texts, 14 times": (
        TEST_ATTACKS["in"][0].replace(" is in ", " in "),
        WORK,
    ),
    "strip with many characters": ("{{ ('x' * 100000).strip('y' * 100000) }}", WORK),
    "startswith a tuple of long prefixes": (
        "{{ ('x' * 100000).startswith(('x' * 100000,) * 100000) }}",
        WORK,
    ),
    "index of a long text in a list": (
        "{{ " + L + ".index('y' * 99999 ~ 'z') }}",
        WORK,
    ),
}

CONTEXT: dict[str, Any] = {
    "x": "<b>",
    "now": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "case": {"number": "C-1", "fields": {"customer": "Acme"}},
    "after": timedelta(hours=4),
}


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize")  # pragma: no cover


def _in_child(source: str) -> dict[str, Any]:
    """Compile and render ``source`` in a forked child under hard limits."""
    read, write = os.pipe()
    gc.freeze()  # the child's collector leaves the parent's objects alone
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (1, 2))  # SIGXCPU at 1 s
            allowance = _vm_bytes() + 256 * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (allowance, allowance))
            try:
                Templates({"attack.txt": source}).render("attack.txt", **CONTEXT)
                report = {"outcome": "rendered"}
            except TemplateError as e:
                report = {"outcome": "refused", "message": str(e)}
            except BaseException as e:
                report = {"outcome": "escaped", "message": f"{type(e).__name__}: {e}"}
            os.write(write, json.dumps(report).encode())
        except BaseException:
            code = 1
        os._exit(code)
    gc.unfreeze()
    os.close(write)
    ready, _, _ = select.select([read], [], [], 30)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    data = b""
    while ready and (chunk := os.read(read, 65536)):
        data += chunk
    os.close(read)
    _, status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return {"outcome": f"killed by {name}", "cpu": usage.ru_utime}
    report: dict[str, Any] = json.loads(data or b'{"outcome": "no report"}')
    report["cpu"] = usage.ru_utime + usage.ru_stime
    return report


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_refused_fast_in_bounded_memory(name: str) -> None:
    """Refused with a TemplateError naming the template and what refused it,
    under 1 s of CPU and 256 MB (a MemoryError would be reported, and fail)."""
    source, refused_by = ATTACKS[name]
    report = _in_child(source)
    assert report["outcome"] == "refused", report
    message = report["message"]
    assert message.startswith("template 'attack.txt'"), message
    assert refused_by in message, message
    assert "MemoryError" not in message, message


def test_every_filter_and_test_has_an_attack() -> None:
    """The tables below cover the whole allow-list: a filter or test added to it
    without an attack of its own fails here."""
    assert sorted(FILTER_ATTACKS) == sorted(_template_calls._FILTERS)
    assert sorted(TEST_ATTACKS) == sorted(_template_calls._TESTS)


@pytest.mark.parametrize(
    "name",
    [f"filter {n}" for n in sorted(FILTER_ATTACKS)]
    + [f"test {n}" for n in sorted(TEST_ATTACKS)]
    + sorted(ESCAPED_BEFORE),
)
def test_each_filter_and_test_is_held_to_the_budget(name: str) -> None:
    """Each filter and test of the allow-list, given the input or argument built
    to exhaust it, is refused by the budget, under 1 s of CPU and 256 MB."""
    kind, _, short = name.partition(" ")
    table = {"filter": FILTER_ATTACKS, "test": TEST_ATTACKS}.get(kind)
    source, refused_by = table[short] if table else ESCAPED_BEFORE[name]
    report = _in_child(source)
    assert report["outcome"] == "refused", report
    assert re.search(refused_by, report["message"]), report["message"]
    assert "MemoryError" not in report["message"], report["message"]


def test_all_templates_together_are_bounded() -> None:
    """Twenty templates at their own limit would take about 20 s to compile:
    together they may have at most Limits.sources characters."""
    one = "{{ x }}" * (100_000 // 7)
    Templates({"a.txt": one, "b.txt": one})
    with pytest.raises(TemplateError, match=r"Limits\.sources"):
        Templates({f"t{i}.txt": one for i in range(20)})


class TestDeadline:
    def test_a_render_past_its_deadline_is_refused(self) -> None:
        """The stopwatch is looked at as the render goes: a render whose counts
        are within budget but whose time is not ends with Limits.deadline."""
        ticks = iter(range(0, 10**12, 10_000_000))  # 10 ms a look

        def stopwatch() -> int:
            return next(ticks)

        t = Templates(
            {"t": "{% for i in range(90000) %}{% endfor %}ok"}, stopwatch=stopwatch
        )
        with pytest.raises(
            TemplateError, match=r"deadline of 1 s \(Limits\.deadline\)"
        ):
            t.render("t")

    def test_a_render_within_its_deadline_is_not(self) -> None:
        """The same render on a stopwatch that does not move renders."""
        t = Templates(
            {"t": "{% for i in range(90000) %}{% endfor %}ok"}, stopwatch=lambda: 0
        )
        assert t.render("t") == "ok"


class TestOutputACanCarry:
    def test_a_lone_surrogate_in_the_source_is_refused_when_compiled(self) -> None:
        """'{{ '\\udc80' }}' is refused by check (compiling), not by every tick."""
        with pytest.raises(TemplateError, match=r"lone surrogate \(U\+DC80\)"):
            Templates({"t.txt": "{{ '\\udc80' }}"})

    def test_nul_in_the_text_is_refused_when_compiled(self) -> None:
        """A NUL a mail cannot carry, in the template's own text."""
        with pytest.raises(TemplateError, match="NUL"):
            Templates({"t.txt": "a\x00b"})

    def test_a_lone_surrogate_from_a_value_is_refused_when_rendered(self) -> None:
        """A value holding one is refused with a TemplateError, never an
        encoding traceback later."""
        t = Templates({"t.txt": "{{ x }}"})
        with pytest.raises(TemplateError, match="output holds a lone surrogate"):
            t.render("t.txt", x="ok \udc80")


class TestBudgetIsPerRender:
    def test_each_render_has_its_own_budget(self) -> None:
        """One render may not use up the next one's: each starts afresh."""
        loop = "{% for i in range(60000) %}{% endfor %}ok"
        t = Templates({"t": loop})
        assert [t.render("t") for _ in range(3)] == ["ok"] * 3
        with pytest.raises(TemplateError, match=r"Limits\.iterations"):
            Templates({"t": loop + loop}).render("t")

    def test_threads_do_not_share_or_reset_budgets(self) -> None:
        """Two threads rendering the same Templates at once: each render is
        charged alone, so the long one is refused however the other runs."""
        t = Templates(
            {
                "short": "{% for i in range(90000) %}{% endfor %}ok",
                "long": "{% for i in range(70000) %}{% endfor %}"
                "{% for i in range(70000) %}{% endfor %}",
            }
        )
        start = threading.Barrier(4)
        results: dict[str, list[str]] = {"short": [], "long": []}

        def render(name: str) -> None:
            start.wait()
            for _ in range(5):
                try:
                    results[name].append(t.render(name))
                except TemplateError as e:
                    results[name].append(
                        "refused" if "iterations" in str(e) else str(e)
                    )

        threads = [
            threading.Thread(target=render, args=(n,)) for n in ("short", "long")
        ] * 1
        threads += [
            threading.Thread(target=render, args=(n,)) for n in ("short", "long")
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results == {"short": ["ok"] * 10, "long": ["refused"] * 10}

    def test_a_template_cannot_reach_its_budget(self) -> None:
        """The internal filters have names a template cannot write."""
        with pytest.raises(TemplateError, match="line 1"):
            Templates({"t": "{{ x|escalate loop }}"})


class TestWithinLimits:
    def test_limits_can_be_raised(self) -> None:
        """What a default limit refuses, a larger one allows."""
        source = (
            "{% for i in range(1500) %}{% for j in range(100) %}{% endfor %}"
            "{% endfor %}ok"
        )
        with pytest.raises(TemplateError, match=r"Limits\.iterations"):
            Templates({"t": source}).render("t")
        limits = Limits(iterations=200_000, size=200_000, work=4_000_000)
        assert Templates({"t": source}, limits=limits).render("t") == "ok"

    def test_nesting_up_to_the_limit_compiles(self) -> None:
        """Nesting at the limit is fine; one level more is refused."""
        deep = "{{ " + "(" * 31 + "1" + ")" * 31 + " }}"
        assert Templates({"t": deep}).render("t") == "1"
        with pytest.raises(TemplateError, match=r"Limits\.depth"):
            Templates({"t": "{{ " + "(" * 33 + "1" + ")" * 33 + " }}"})

    def test_ordinary_mail_of_a_case_and_its_history(self) -> None:
        """Loops over fields and history, conditions, filters, dates, HTML."""
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        history = [
            {"at": at + timedelta(hours=i), "what": f"step {i}", "by": b}
            for i, b in enumerate(["ann", None, "bob"])
        ]
        t = Templates(
            {
                "m.subject": "Case {{ case.number }} ({{ case.fields|length }} fields)",
                "m.txt": (
                    "{% for k, v in case.fields|dictsort %}{{ k|title }}: {{ v }}\n"
                    "{% endfor %}{% for e in history if e.by %}"
                    "{{ e.at.strftime('%d %b %H:%M') }} {{ e.what|upper }}"
                    " by {{ e.by }}"
                    "{% if not loop.last %}; {% endif %}{% endfor %}\n"
                    "{{ history|map(attribute='by')|select|unique|join(', ') }}"
                    " {{ (history|length) * 2 }} {{ 'done' if history else 'none' }}"
                    " {{ case.fields.get('missing', '-') ~ '!' }}"
                ),
                "m.html": (
                    "<p>{{ x }}{% for e in history %}<i>{{ e.what }}</i>"
                    "{% endfor %}</p>"
                ),
            }
        )
        mail = t.render_mail("m", case=CONTEXT["case"], history=history, x="<b>")
        assert mail.subject == "Case C-1 (1 fields)"
        assert mail.text == (
            "Customer: Acme\n02 Mar 09:00 STEP 0 by ann; 02 Mar 11:00 STEP 2 by bob\n"
            "ann, bob 6 done -!"
        )
        assert mail.html == "<p>&lt;b&gt;<i>step 0</i><i>step 1</i><i>step 2</i></p>"


TOKENS = [
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "for x in ",
    "range(",
    ")",
    "(",
    "[",
    "]",
    "if ",
    "else ",
    "endif",
    "endfor",
    "set y = ",
    "x",
    "y",
    "'ab'",
    "100000",
    "1",
    " * ",
    " + ",
    " ~ ",
    " - ",
    " // ",
    " % ",
    "|join",
    "|list",
    "|replace('a', 'bb')",
    "|batch(3)",
    "|sort",
    "|string",
    "|unique",
    "|tojson",
    ".split('a')",
    ".upper()",
    " == ",
    " in ",
    " not ",
    ", ",
    "-",
    "{",
    "}",
    ": ",
    "loop.index",
    "dict(a=1)",
    "case.fields",
    ".get('a')",
    "|length",
    "|map('upper')",
    "|first",
    "'\\x00'",
    "'\\udc80'",
    "|round(-1000000000)",
    "|round(100000000, 'ceil')",
    "|tojson(indent=100000)",
    "|unique",
    "|max",
    "|trim('ab')",
    "|select('eq', 'ab')",
]


@given(st.lists(st.sampled_from(TOKENS), max_size=40))
@settings(max_examples=300, deadline=timedelta(seconds=5))
def test_any_source_compiles_and_renders_or_is_a_template_error(
    parts: list[str],
) -> None:
    """Whatever a template holds, compiling and rendering it either works or
    raises TemplateError, within the bound (far above the render deadline): no
    other exception escapes."""
    source = "".join(parts)
    try:
        Templates({"t.txt": source, "t.html": source})
    except TemplateError:
        return
    for name in ("t.txt", "t.html"):
        with contextlib.suppress(TemplateError):
            Templates({name: source}).render(name, **CONTEXT)
