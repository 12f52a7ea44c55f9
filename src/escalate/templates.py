"""Mail templates: jinja2, sandboxed, strict, and bounded.

Escalation mails are rendered from templates that administrators write, so a
template is treated as untrusted input:

* a ``SandboxedEnvironment``: no access to Python internals
  (``{{ ''.__class__.__mro__ }}`` is refused);
* ``StrictUndefined``: a missing variable is an error, not an empty string;
* autoescaping for HTML parts (names ending in ``.html``), none for text parts;
* bounded: constant folding is switched off (jinja2 would otherwise compute
  ``{{ [0] * 1000000000 }}`` while compiling), ``*``, ``**``, ``+`` and ``%`` are
  checked before they allocate, string methods and filters that pad or repeat
  check their sizes, ``range`` has a budget of items per render, and the output
  stops at a maximum size.

Every failure is a :class:`~escalate.errors.TemplateError` naming the template and,
where known, the line. Nothing here sends mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import attrs
import jinja2
from jinja2.sandbox import SandboxedEnvironment

from escalate.errors import TemplateError

__all__ = ["Limits", "Rendered", "Templates"]


@attrs.frozen(kw_only=True)
class Limits:
    """How much a render may produce.

    Attributes:
        size: The largest string or sequence an operation may build.
        output: The largest rendered text, in characters.
        range_items: How many items all ``range`` calls of one render may yield.
    """

    size: int = 100_000
    output: int = 1_000_000
    range_items: int = 100_000


_PADDING: Final = frozenset({"ljust", "rjust", "center", "zfill"})
_REFUSED_METHODS: Final = frozenset({"format", "format_map", "expandtabs"})


def _size(value: Any) -> int | None:
    if isinstance(value, str | bytes | list | tuple):
        return len(value)
    return None


class _Environment(SandboxedEnvironment):
    """The sandbox, with the size checks of :class:`Limits`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(
        self, limits: Limits, *, autoescape: bool, loader: jinja2.BaseLoader
    ) -> None:
        super().__init__(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            autoescape=autoescape,
            optimized=False,  # no constant folding while compiling
            keep_trailing_newline=True,
        )
        self.limits = limits
        self.budget = [limits.range_items]
        self.globals = {"range": self._range, "dict": dict}
        for name in ("center", "indent", "wordwrap", "format", "filesizeformat"):
            self.filters.pop(name, None)

    def _too_big(self, what: str, n: int) -> TemplateError:
        return TemplateError(
            f"{what} would build {n:,} items; a template may build at most "
            f"{self.limits.size:,}"
        )

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                n = _size(seq)
                if (
                    n is not None
                    and isinstance(times, int)
                    and n * max(times, 0) > self.limits.size
                ):
                    raise self._too_big("'*'", n * times)
        elif operator_ == "**":
            if isinstance(left, int) and isinstance(right, int):
                bits = abs(left).bit_length() * max(right, 0)
                if bits > 4 * self.limits.size:
                    raise TemplateError(
                        f"'**' would build a number of about {bits:,} bits; refused"
                    )
        elif operator_ == "+":
            a, b = _size(left), _size(right)
            if a is not None and b is not None and a + b > self.limits.size:
                raise self._too_big("'+'", a + b)
        elif operator_ == "%" and isinstance(left, str):
            raise TemplateError("'%' formatting of text is not allowed in templates")
        return super().call_binop(context, operator_, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str | bytes) and attribute in _REFUSED_METHODS:
            raise TemplateError(
                f"the text method {attribute!r} is not allowed in templates"
            )
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, str | bytes) and argument in _REFUSED_METHODS:
            raise TemplateError(
                f"the text method {argument!r} is not allowed in templates"
            )
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str | bytes):
            if (
                name in _PADDING
                and args
                and isinstance(args[0], int)
                and args[0] > __self.limits.size
            ):
                raise __self._too_big(f"{name}()", args[0])
            if name == "replace" and len(args) >= 2:
                old, new = args[0], args[1]
                grow = len(owner) + (len(owner) + 1) * max(len(new) - len(old), 0)
                if grow > __self.limits.size:
                    raise __self._too_big("replace()", grow)
            if name == "join" and args:
                items = args[0]
                n = _size(items)
                if n is not None and n * (len(owner) + 1) > __self.limits.size:
                    raise __self._too_big("join()", n * (len(owner) + 1))
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def _range(self, *args: int) -> Iterator[int]:
        for n in range(*args):
            if self.budget[0] <= 0:
                raise TemplateError(
                    f"range() yielded more than {self.limits.range_items:,} items in "
                    "this render; refused"
                )
            self.budget[0] -= 1
            yield n


@attrs.frozen(kw_only=True)
class Rendered:
    """A rendered mail: subject, plain text, and HTML if there is an HTML part."""

    subject: str
    text: str
    html: str | None = None


class Templates:
    """Named templates, compiled once and checked when built.

    Names ending in ``.html`` are HTML (autoescaped); others are text. A mail
    template ``name`` has the parts ``name.subject``, ``name.txt`` and optionally
    ``name.html``.

    Raises:
        TemplateError: A template does not compile (naming it and the line).
    """

    def __init__(
        self, sources: Mapping[str, str], *, limits: Limits | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.sources = dict(sources)
        # The template's name as its file name, so errors carry template lines.
        loader = jinja2.FunctionLoader(self._source)
        self._text = _Environment(self.limits, autoescape=False, loader=loader)
        self._html = _Environment(self.limits, autoescape=True, loader=loader)
        for name in sorted(self.sources):
            self._compile(name)

    def _source(self, name: str) -> tuple[str, str, Callable[[], bool]] | None:
        if name not in self.sources:
            return None
        return self.sources[name], name, lambda: True

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def names(self) -> tuple[str, ...]:
        """The template names, sorted."""
        return tuple(sorted(self.sources))

    def _env(self, name: str) -> _Environment:
        return self._html if name.endswith(".html") else self._text

    def _compile(self, name: str) -> jinja2.Template:
        try:
            return self._env(name).get_template(name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(
                f"template {name!r}, line {e.lineno}: {e.message}",
                template=name,
                line=e.lineno,
            ) from e
        except jinja2.TemplateNotFound as e:
            raise TemplateError(
                f"template {name!r} does not exist; templates: {list(self.names())}",
                template=name,
            ) from e

    def render(self, name: str, /, **context: Any) -> str:
        """Render one template.

        Raises:
            TemplateError: The template is missing, uses a missing variable,
                reaches for Python internals, or exceeds a limit.
        """
        template = self._compile(name)
        env = self._env(name)
        env.budget[0] = self.limits.range_items
        out: list[str] = []
        size = 0
        try:
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > self.limits.output:
                    raise TemplateError(
                        f"the output exceeds {self.limits.output:,} characters"
                    )
                out.append(chunk)
        except TemplateError as e:
            raise _located(e, name, str(e)) from None
        except jinja2.UndefinedError as e:
            raise _located(e, name, f"undefined variable: {e.message}") from e
        except jinja2.exceptions.SecurityError as e:
            raise _located(e, name, f"refused by the sandbox: {e}") from e
        except (OverflowError, MemoryError, RecursionError) as e:
            raise _located(e, name, f"too large: {e}") from e
        except Exception as e:  # a template's own error, reported as such
            raise _located(e, name, f"{type(e).__name__}: {e}") from e
        return "".join(out)

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
