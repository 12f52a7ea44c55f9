"""Mail templates: jinja2, for untrusted authors: an allow-list and a budget.

Escalation mails are rendered from templates that tenant administrators write, so
a template is untrusted input. It may read the values it is given, and nothing
else; it may not take a worker down. Two mechanisms, applied to every template:

* **an allow-list, when it is compiled** (:mod:`escalate._template_syntax`): the
  template's size and nesting are bounded before it is parsed, and its syntax tree
  may hold only the constructs a mail needs (no macros, includes, recursive loops,
  ``**``, set blocks); the filters, tests, methods and globals it may call are
  listed (:mod:`escalate._template_calls`); jinja2's sandbox keeps it away from
  Python internals;
* **a budget, for each render** (:mod:`escalate._template_budget`), in a context
  variable of that render alone: loop iterations, the characters and items built
  or examined, the size of any one value and of a number, the output. Every loop,
  operator, ``~``, comparison, filter and call is charged, and a construct that can
  amplify is refused before it builds.

Also strict (a missing variable is an error) and autoescaping HTML parts. Every
failure is a :class:`~escalate.errors.TemplateError` naming the template and, where
known, the line; no other exception escapes compiling or rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from escalate import _template_budget, _template_calls, _template_syntax
from escalate._text import describe_unsafe, unsafe_at
from escalate.errors import TemplateError
from escalate.timers import stopwatch

__all__ = ["Limits", "Rendered", "Templates"]


@attrs.frozen(kw_only=True)
class Limits:
    """What one template may be, and what one render of it may do.

    Attributes:
        source: The longest template source, in characters.
        sources: The most characters all the templates of one ``Templates``
            may have together (compiling costs up to about 10 µs a character).
        depth: How deeply brackets, blocks and expressions may nest.
        size: The largest value an operation may build: characters of text, or
            items of a container.
        output: The largest rendered text, in characters.
        iterations: How many loop iterations (and items drawn from iterators)
            one render may run in all.
        work: How many characters and items one render may build or examine in all.
        number_bits: The largest number, in bits.
        deadline: How long one render may take on the wall clock (a monotonic
            stopwatch), looked at as it goes: the last guard, behind the counts,
            that no filter can outlive by more than one bounded operation.
    """

    source: int = 100_000
    sources: int = 300_000
    depth: int = 32
    size: int = 100_000
    output: int = 1_000_000
    iterations: int = 100_000
    work: int = 2_000_000
    number_bits: int = 4_096
    deadline: timedelta = timedelta(seconds=1)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with escalate's allow-list; every call and operator charged."""

    intercepted_binops = frozenset({"*", "+", "-", "/", "//", "%"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=autoescape,
            optimized=False,  # no constant folding while compiling
            keep_trailing_newline=True,
            finalize=_template_budget.output,
        )
        self.globals = {"range": range, "dict": dict}
        self.filters = _template_calls.filters(markup=autoescape)
        self.tests = _template_calls.tests()  # type: ignore[assignment]

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        b = _template_budget.current()
        what = f"'{operator_}'"
        if operator_ == "%" and isinstance(left, str):
            raise TemplateError("'%' formatting of text is not allowed in templates")
        if isinstance(left, int) and isinstance(right, int):
            bits = max(left.bit_length(), right.bit_length())
            b.bits(
                what,
                left.bit_length() + right.bit_length()
                if operator_ == "*"
                else bits + 1,
            )
        elif operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and hasattr(seq, "__len__"):
                    b.allow(what, _template_budget._len(seq) * max(times, 0))
        elif (
            operator_ == "+" and hasattr(left, "__len__") and hasattr(right, "__len__")
        ):
            b.allow(what, _template_budget._len(left) + _template_budget._len(right))
        return super().call_binop(context, operator_, left, right)

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if isinstance(argument, slice):
            return _template_budget.current().measure("a slice", value)
        return value

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("_loop_vars", None)  # jinja2's, for callables given the context
        kwargs.pop("_block_vars", None)
        return _template_calls.call(__obj, args, kwargs)

    def compiled(self, name: str, source: str, limits: Limits) -> jinja2.Template:
        """Check, rewrite and compile one template."""
        _template_syntax.check_source(self, name, source, limits)
        tree = self.parse(source, name, name)
        _template_syntax.check_tree(tree, name, limits, self.filters, self.tests)
        code = self.compile(_template_syntax.charged(tree), name, name)
        # a plain dict of the (fixed) globals: each render copies it, and a
        # ChainMap is slow to copy
        globals_ = dict(self.make_globals(None))
        return self.template_class.from_code(self, code, globals_)


@attrs.frozen(kw_only=True)
class Rendered:
    """A rendered mail: subject, plain text, and HTML if there is an HTML part."""

    subject: str
    text: str
    html: str | None = None


class Templates:
    """Named templates, checked and compiled once, when built.

    Names ending in ``.html`` are HTML (autoescaped); others are text. A mail
    template ``name`` has the parts ``name.subject``, ``name.txt`` and optionally
    ``name.html``. Safe to render from several threads at once: each render has
    its own budget.

    Raises:
        TemplateError: A template does not compile, or is refused by the
            allow-list or a limit (naming it and the line).
    """

    def __init__(
        self,
        sources: Mapping[str, str],
        *,
        limits: Limits | None = None,
        stopwatch: Callable[[], int] = stopwatch,
    ) -> None:
        self.limits = limits or Limits()
        self._stopwatch = stopwatch
        self.sources = dict(sources)
        total = sum(len(v) for v in self.sources.values() if isinstance(v, str))
        if total > self.limits.sources:
            raise TemplateError(
                f"the templates have {total:,} characters together; at most "
                f"{self.limits.sources:,} are compiled (Limits.sources)"
            )
        self._text = _Environment(autoescape=False)
        self._html = _Environment(autoescape=True)
        self._compiled = {
            name: self._compile(name, self.sources[name])
            for name in sorted(self.sources)
        }

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def names(self) -> tuple[str, ...]:
        """The template names, sorted."""
        return tuple(sorted(self.sources))

    def _compile(self, name: str, source: str) -> jinja2.Template:
        env = self._html if name.endswith(".html") else self._text
        try:
            return env.compiled(name, source, self.limits)
        except TemplateError:
            raise
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(
                f"template {name!r}, line {e.lineno}: {e.message}",
                template=name,
                line=e.lineno,
            ) from None
        except (RecursionError, MemoryError) as e:
            raise _located(
                e,
                name,
                f"nests too deeply to compile (Limits.depth): {type(e).__name__}",
            ) from None
        except Exception as e:  # jinja2's or Python's compiler, on what got past
            raise _located(
                e, name, f"does not compile: {type(e).__name__}: {e}"
            ) from None

    def render(self, name: str, /, **context: Any) -> str:
        """Render one template, with a budget of its own.

        Raises:
            TemplateError: The template is missing, uses a missing variable,
                reaches for Python internals or anything not allowed, or exceeds
                a limit (named, as ``Limits.<field>``).
        """
        template = self._compiled.get(name)
        if template is None:
            raise TemplateError(
                f"template {name!r} does not exist; templates: {list(self.names())}",
                template=name,
            )
        limit = self.limits.output
        out: list[str] = []
        size = 0
        token = _template_budget.start(self.limits, self._stopwatch)
        try:
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > limit:
                    raise TemplateError(
                        f"the output exceeds {limit:,} characters (Limits.output)"
                    )
                out.append(chunk)
        except TemplateError as e:
            raise _located(e, name, str(e)) from None
        except jinja2.UndefinedError as e:
            raise _located(e, name, f"undefined variable: {e.message}") from None
        except jinja2.exceptions.SecurityError as e:
            raise _located(e, name, f"refused by the sandbox: {e}") from None
        except (OverflowError, MemoryError, RecursionError) as e:
            raise _located(e, name, f"too large: {type(e).__name__}: {e}") from None
        except Exception as e:  # a template's own error, reported as such
            raise _located(e, name, f"{type(e).__name__}: {e}") from None
        finally:
            _template_budget.stop(token)
        text = "".join(out)
        at = unsafe_at(text)
        if at is not None:
            raise TemplateError(
                f"template {name!r}: the output holds {describe_unsafe(text, at)}, "
                "which no mail can carry; expected valid Unicode text without NUL",
                template=name,
            )
        return text

    def render_mail(self, name: str, /, **context: Any) -> Rendered:
        """The parts ``name.subject``, ``name.txt`` and ``name.html`` (optional)."""
        html_name = f"{name}.html"
        return Rendered(
            subject=" ".join(self.render(f"{name}.subject", **context).split()),
            text=self.render(f"{name}.txt", **context),
            html=self.render(html_name, **context) if html_name in self else None,
        )


def _located(error: BaseException, name: str, message: str) -> TemplateError:
    """A TemplateError naming the template and, from the traceback, the line."""
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f"template {name!r}" + (f", line {line}" if line else "")
    return TemplateError(f"{where}: {message}", template=name, line=line)
