"""The operator's settings: what a tenant may never set.

escalate has two roles (``docs/config.md``, "Whose key is it"):

* the **operator** runs the workers and owns the database, the SMTP server and
  its credentials, the folders and the process options;
* a **tenant administrator** owns rules, calendars, holidays, SLA policies,
  templates, users and their addresses, fields, leads, routing and documents.

:class:`OperatorSettings` is the operator's part: the SMTP server (host, port,
security, login and the environment variable holding the password), the mail
folder, and the template folder whose files every tenant's inline templates
build on. It is read from a file the operator writes (:func:`load_operator_settings`,
``escalate ... --operator FILE``), or from the operator's part of a
single-company configuration file (:func:`escalate.config.load_config`). The
tenant's part is read by :func:`escalate.config.load_tenant_config`, which names
no file, no environment variable and no host, and refuses these keys.

This module reads files (the operator's file, the template folder), so it sits
beside the configuration loader, outside the pure core.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import attrs

from escalate._frozen import FrozenMap
from escalate._toml import Table, check_depth, check_nesting, fail, wrapped
from escalate.delivery import DeliveryPolicy
from escalate.errors import ConfigError

__all__ = [
    "OPERATOR_KEYS",
    "OperatorSettings",
    "SmtpSettings",
    "load_operator_settings",
    "parse_operator_settings",
]

OPERATOR_KEYS: Final = (
    "mail.smtp",
    "mail.folder",
    "mail.delivery",
    "templates.folder",
    "calendars.<name>.holidays.ical",
)
"""The keys of a configuration that are the operator's: each names a host, a
secret's environment variable, a folder or a file. A tenant's settings refuse
them (:func:`escalate.config.load_tenant_config`)."""

MAX_CONFIG_BYTES: Final = 10_000_000
"""A configuration file (or a template, or an iCalendar file) is at most this big."""

_SECURITY: Final = ("none", "starttls", "ssl")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _texts(value: Mapping[str, str]) -> FrozenMap[str, str]:
    return FrozenMap(value)


@attrs.frozen(kw_only=True)
class SmtpSettings:
    """How to reach the SMTP server (``[mail.smtp]``, the operator's).

    Attributes:
        host: The server.
        port: Its port, or None for the default of ``security``.
        security: ``"none"``, ``"starttls"`` or ``"ssl"``.
        username: The login, if any.
        password_env: The environment variable holding the password (a
            password never sits in the file).
        timeout: The longest wait for one answer of the server.
        deadline: The longest one send may take, all of it (default: four
            times ``timeout``); a worker's claims outlast it.
        reuse: Keep the connection open from one mail to the next.

    Raises:
        ConfigError: A bad port or security, or a login over a connection
            without TLS to a host other than this machine (the password would
            cross the network in plain text).
    """

    host: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout: timedelta = timedelta(seconds=30)
    deadline: timedelta | None = None
    reuse: bool = True

    def __attrs_post_init__(self) -> None:
        if self.security not in _SECURITY:
            raise fail(
                "mail.smtp.security", "'none', 'starttls' or 'ssl'", self.security
            )
        if self.port is not None and not 0 < self.port < 65536:
            raise fail("mail.smtp.port", "a port from 1 to 65535", self.port)
        for name, limit in (("timeout", self.timeout), ("deadline", self.deadline)):
            if limit is not None and not timedelta(0) < limit <= timedelta(hours=1):
                raise fail(f"mail.smtp.{name}", "more than 0s and at most 1h", limit)
        login = self.username is not None or self.password_env is not None
        if login and self.security == "none" and not _loopback(self.host):
            raise ConfigError(
                f'mail.smtp.security: "none" with a login would send the password '
                f'to {self.host!r} in plain text; expected "starttls" or "ssl" '
                "(a login without TLS only to this machine: localhost, 127.0.0.1)"
            )


@attrs.frozen(kw_only=True)
class OperatorSettings:
    """What the operator owns (never taken from what a tenant writes).

    Attributes:
        smtp: Send through this SMTP server, or None.
        delivery: How long a mail is tried before it is a dead letter
            (``[mail.delivery]``: ``max_attempts``, ``max_age``,
            ``first_retry``, ``max_retry``); its send deadline is the SMTP
            server's.
        mail_folder: Write mails as ``.eml`` files into this folder, or None.
        template_folder: The folder the base templates were read from, or None.
        templates: Template name to source, read from ``template_folder``: every
            tenant's templates build on them (an inline one of the same name
            wins).
        path: The file they were read from, if any.
    """

    smtp: SmtpSettings | None = None
    delivery: DeliveryPolicy = attrs.field(factory=DeliveryPolicy)
    mail_folder: Path | None = None
    template_folder: Path | None = None
    templates: FrozenMap[str, str] = attrs.field(factory=FrozenMap, converter=_texts)
    path: Path | None = attrs.field(default=None, eq=False)


def read_text(file: Path, what: str) -> str:
    """A UTF-8 text file of at most ``MAX_CONFIG_BYTES``, or a ConfigError."""
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{file}: cannot read the {what} file: {e}") from e
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{file}: expected a {what} file of at most {MAX_CONFIG_BYTES} bytes"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{file}: expected UTF-8 text: {e}") from e


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """A TOML file, its size and nesting checked before it is parsed."""
    text = read_text(file, what)
    check_nesting(text, str(file))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from e


def inside(base: Path, name: str, where: str, what: str) -> Path:
    """``base / name``, refused unless it stays inside ``base`` once every
    ``..`` and symbolic link is resolved (an absolute ``name`` does not)."""
    folder = base.resolve()
    target = (base / name).resolve()
    if not target.is_relative_to(folder):
        raise ConfigError(
            f"{where}: expected {what} inside the configuration's folder "
            f"{str(folder)!r}, got {name!r}"
        )
    return target


def read_template_folder(folder: Path, where: str) -> dict[str, str]:
    """The templates of a folder: each file (not starting with a dot) by name."""
    if not folder.is_dir():
        raise ConfigError(
            f"{where}: expected a folder of templates, got {str(folder)!r}"
        )
    # each file resolved too: a link in the folder may not lead out of it
    return {
        file.name: read_text(
            inside(folder, file.name, f"{where}: {file.name}", "a template"),
            "template",
        )
        for file in sorted(folder.iterdir())
        if file.is_file() and not file.name.startswith(".")
    }


def load_operator_settings(path: str | os.PathLike[str]) -> OperatorSettings:
    """Read the operator's file: ``[mail.smtp]``, ``[mail] folder`` and
    ``[templates] folder`` (paths relative to the file's folder), nothing else.

    Raises:
        ConfigError: The file cannot be read, is not TOML, holds a key that is
            not the operator's (a tenant's key, or a typo), or a value is bad.
    """
    file = Path(path)
    return parse_operator_settings(
        read_toml(file, "operator"), base=file.parent, path=file
    )


def parse_operator_settings(
    data: Mapping[str, Any], *, base: Path, path: Path | None = None
) -> OperatorSettings:
    """:class:`OperatorSettings` from parsed TOML (see
    :func:`load_operator_settings`)."""
    check_depth(data, "operator settings")
    root = Table(dict(data), "")
    mail, templates = root.table("mail"), root.table("templates")
    settings = operator_part(mail, templates, base, path)
    mail_keys = {"smtp", "folder", "delivery"}
    for table, known in ((root, {"mail", "templates"}), (mail, mail_keys)):
        unknown = sorted(set(table.data) - known)
        if unknown:
            raise ConfigError(
                f"{table.at(unknown[0])}: not an operator setting; the operator's "
                f"file holds only {', '.join(OPERATOR_KEYS[:4])} (the rest is the "
                "tenant's settings)"
            )
    templates.done()
    return settings


def operator_part(
    mail: Table, templates: Table, base: Path, path: Path | None
) -> OperatorSettings:
    """The operator's keys of ``[mail]`` and ``[templates]`` (read, so that
    ``done()`` does not refuse them)."""
    smtp = _smtp(mail.table("smtp")) if mail.has("smtp") else None
    delivery = _delivery(mail.table("delivery"), smtp)
    mail_folder = mail.text("folder", None)
    template_folder = templates.text("folder", None)
    folder = (
        None
        if template_folder is None
        else inside(
            base, template_folder, templates.at("folder"), "a folder of templates"
        )
    )
    return OperatorSettings(
        smtp=smtp,
        delivery=delivery,
        mail_folder=None if mail_folder is None else base / mail_folder,
        template_folder=folder,
        templates={}
        if folder is None
        else read_template_folder(folder, templates.at("folder")),
        path=path,
    )


def _smtp(s: Table) -> SmtpSettings:
    """``[mail.smtp]``; SmtpSettings checks the values, naming their keys."""
    smtp = SmtpSettings(
        host=s.text("host"),
        port=s.integer("port", None),
        security=s.text("security", "starttls"),
        username=s.text("username", None),
        password_env=s.text("password_env", None),
        timeout=s.duration("timeout", timedelta(seconds=30)),
        deadline=s.duration("deadline", None),
        reuse=s.flag("reuse", True),
    )
    s.done()
    return smtp


def send_deadline(smtp: SmtpSettings | None) -> timedelta:
    """How long one send may take: the SMTP server's deadline (four times its
    timeout unless set); a folder's write, the policy's default."""
    if smtp is None:
        return DeliveryPolicy().send_deadline
    return smtp.deadline or 4 * smtp.timeout


def _delivery(d: Table, smtp: SmtpSettings | None) -> DeliveryPolicy:
    """``[mail.delivery]``; DeliveryPolicy checks the values."""
    default = DeliveryPolicy()
    policy = wrapped(
        d.path,
        DeliveryPolicy,
        max_attempts=d.integer("max_attempts", default.max_attempts),
        max_age=d.duration("max_age", default.max_age),
        first_retry=d.duration("first_retry", default.first_retry),
        max_retry=d.duration("max_retry", default.max_retry),
        send_deadline=send_deadline(smtp),
    )
    d.done()
    return policy
