"""What a template may be made of, checked when it is compiled.

A template is read in three steps, each bounded, before any of it runs:

1. its size (``Limits.source``) and, from jinja2's tokens (the lexer does not
   recurse), how deeply its brackets, unary operators and blocks nest
   (``Limits.depth``), so the parser never recurses deeper than that;
2. its syntax tree against an allow-list of constructs: output, ``if``, ``for``
   (not ``recursive``), ``set`` of an expression, ``with``, and the expressions
   (names, literals, attributes, items and slices, the arithmetic operators but
   ``**``, comparisons, ``and``/``or``/``not``, ``~``, filters and tests that are
   available, calls). Macros, call blocks, filter blocks, ``set`` blocks,
   ``include``, ``import``, ``extends``, blocks, ``autoescape`` blocks and
   ``recursive`` loops are refused: each repeats or composes work beyond what a
   mail needs, and each is a way around a budget;
3. rewritten so that every loop, ``~`` and comparison charges the render's budget
   (:mod:`escalate._template_budget`); the rewritten nodes call functions through
   filters whose names a template cannot write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import jinja2
from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from escalate._text import describe_unsafe, unsafe_at
from escalate.errors import TemplateError

#: Names of the internal filters the rewrite calls; a space keeps them unwritable.
LOOP: Final = "escalate loop"
CONCAT: Final = "escalate concat"
COMPARE: Final = "escalate compare"

_ALLOWED: Final = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.Assign,
    nodes.With,
    nodes.Name,
    nodes.Const,
    nodes.Tuple,
    nodes.List,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.Concat,
    nodes.Compare,
    nodes.Operand,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Call,
)

_WHAT: Final = {
    nodes.Macro: "macros are",
    nodes.CallBlock: "call blocks are",
    nodes.FilterBlock: "filter blocks are",
    nodes.AssignBlock: "set blocks ({% set x %}...{% endset %}) are",
    nodes.Include: "include is",
    nodes.Import: "import is",
    nodes.FromImport: "import is",
    nodes.Extends: "extends is",
    nodes.Block: "blocks are",
    nodes.Pow: "the '**' operator is",
    nodes.ScopedEvalContextModifier: "autoescape blocks are",
    nodes.EvalContextModifier: "autoescape blocks are",
    nodes.NSRef: "namespace assignments are",
    nodes.ExprStmt: "do statements are",
}

_OPENERS: Final = frozenset({"(", "[", "{"})
_CLOSERS: Final = frozenset({")", "]", "}"})
_UNARY: Final = frozenset({"-", "+"})
_BLOCKS: Final = frozenset(
    {"for", "if", "with", "macro", "call", "filter", "block", "autoescape"}
)


def _refuse(name: str, line: int | None, message: str) -> TemplateError:
    where = f"template {name!r}" + (f", line {line}" if line else "")
    return TemplateError(f"{where}: {message}", template=name, line=line)


def _too_deep(name: str, line: int, depth: int) -> TemplateError:
    return _refuse(
        name, line, f"nests more than {depth} levels deep; refused (Limits.depth)"
    )


def check_source(env: jinja2.Environment, name: str, source: str, limits: Any) -> None:
    """Refuse a source too long or nested too deeply, before it is parsed."""
    if len(source) > limits.source:
        raise _refuse(
            name,
            None,
            f"has {len(source):,} characters; a template may have at most "
            f"{limits.source:,} (Limits.source)",
        )
    brackets = blocks = unary = conditions = 0
    after_block_begin = in_set = False
    try:
        for line, kind, value in env.lex(source, name, name):
            if kind == "whitespace":
                continue
            if kind == "operator":
                if value in _OPENERS:
                    brackets += 1
                elif value in _CLOSERS:
                    brackets -= 1
                if value in _UNARY:
                    unary += 1
                elif value == "=" and in_set:
                    in_set = False  # {% set x = ... %}: not a block
            elif kind == "name" and value == "not":
                unary += 1
            else:
                unary = 0 if kind != "operator" else unary
            if kind in ("variable_end", "block_end"):
                conditions = 0
            elif kind == "name" and value == "if" and not after_block_begin:
                conditions += 1  # x if y else (z if ...): the parser recurses
            if kind == "name" and after_block_begin:
                if value in _BLOCKS:
                    blocks += 1
                elif value == "set":
                    in_set = True
                elif value.startswith("end"):
                    blocks -= 1
            if kind == "block_end" and in_set:
                blocks += 1  # {% set x %}: a block, refused later with its name
                in_set = False
            after_block_begin = kind == "block_begin"
            depth = max(brackets, 0) + max(blocks, 0) + unary + conditions
            if depth > limits.depth:
                raise _too_deep(name, line, limits.depth)
    except jinja2.TemplateSyntaxError as e:
        raise _refuse(name, e.lineno, e.message or "syntax error") from None


def check_tree(
    tree: nodes.Template,
    name: str,
    limits: Any,
    filters: Iterable[str],
    tests: Iterable[str],
) -> None:
    """Refuse constructs not on the allow-list, unknown filters and tests, and
    trees deeper than ``Limits.depth``; iteratively, so depth cannot recurse."""
    known_filters, known_tests = frozenset(filters), frozenset(tests)
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        line = getattr(node, "lineno", None)
        if depth > limits.depth:
            raise _too_deep(name, line or 1, limits.depth)
        if not isinstance(node, _ALLOWED) or isinstance(node, nodes.Pow):
            what = next(
                (w for t, w in _WHAT.items() if isinstance(node, t)),
                f"{type(node).__name__} is",
            )
            raise _refuse(name, line, f"{what} not allowed in templates")
        if isinstance(node, nodes.For) and node.recursive:
            raise _refuse(name, line, "recursive loops are not allowed in templates")
        text = _literal_text(node)
        if text is not None and (at := unsafe_at(text)) is not None:
            raise _refuse(
                name,
                line,
                f"its text holds {describe_unsafe(text, at)}, which no mail can "
                "carry; expected valid Unicode text without NUL",
            )
        if isinstance(node, nodes.Filter) and node.name not in known_filters:
            raise _refuse(
                name,
                line,
                f"there is no filter {node.name!r}; the filters are: "
                f"{', '.join(sorted(f for f in known_filters if ' ' not in f))}",
            )
        if isinstance(node, nodes.Test) and node.name not in known_tests:
            raise _refuse(
                name,
                line,
                f"there is no test {node.name!r}; the tests are: "
                f"{', '.join(sorted(known_tests))}",
            )
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _literal_text(node: nodes.Node) -> str | None:
    """The text a literal or the template's own text writes, if any."""
    if isinstance(node, nodes.TemplateData):
        return node.data
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def _internal(name: str, first: nodes.Expr, rest: list[nodes.Expr]) -> nodes.Filter:
    call = nodes.Filter(first, name, rest, [], None, None)
    call.set_lineno(first.lineno)
    return call


class _Charged(NodeTransformer):
    """Route loops, ``~`` and comparisons through the budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _internal(LOOP, node.iter, [])  # type: ignore[arg-type]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        first, *rest = node.nodes
        return _internal(CONCAT, first, rest)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        self.generic_visit(node)
        args: list[nodes.Expr] = []
        for op in node.ops:
            args += [nodes.Const(op.op, lineno=node.lineno), op.expr]
        return _internal(COMPARE, node.expr, args)


def charged(tree: nodes.Template) -> nodes.Template:
    """The tree with every loop, ``~`` and comparison charging the budget."""
    result: nodes.Template = _Charged().visit(tree)
    return result
