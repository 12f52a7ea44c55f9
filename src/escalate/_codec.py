"""Values to JSON text and back, for store adapters.

Custom fields and details may hold instants, dates and durations; they are written
as tagged objects (``{"$datetime": "..."}``) so they come back as they went in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs

from escalate._frozen import FrozenMap
from escalate.history import CaseDeletion, DocumentKind, EscalationDocument, HistoryHead
from escalate.leads import Lead
from escalate.mail import OutgoingMail
from escalate.model import Case, Status, Task


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$us": value // timedelta(microseconds=1)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Status):
        return {"$status": value.name, "closed": value.closed}
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tag(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        if "$us" in value:
            return timedelta(microseconds=value["$us"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$status" in value:
            return Status(value["$status"], closed=value["closed"])
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


_ENCODE: Final = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
_STRING: Final = json.encoder.encode_basestring  # a str as JSON, not ASCII-only
# the types that are their own JSON value: a mapping of only these needs no tags
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def dumps(value: Any) -> str:
    """JSON text of a value, with tags for instants, dates, durations."""
    return _ENCODE(_tag(value))


def _tagged(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as a dict ready for JSON: tagged where a value needs it
    (the same as ``_tag``, without its walk when every value is plain)."""
    if all(type(v) in _PLAIN for v in values.values()):
        return dict(values)
    return {k: _tag(v) for k, v in values.items()}


def loads(text: str) -> Any:
    """The value of :func:`dumps` text."""
    return _untag(json.loads(text))


def case_to_json(case: Case) -> str:
    """A case as JSON text (its version is stored beside it): the text
    :func:`dumps` gives, with the known fields tagged in place (a tick encodes
    every case it saves)."""
    status, modified = case.status, case.modified_at
    return _ENCODE(
        {
            "id": case.id,
            "number": case.number,
            "status": {"$status": status.name, "closed": status.closed},
            "priority": case.priority,
            "owner": case.owner,
            "fields": _tagged(case.fields),
            "created_at": {"$datetime": case.created_at.isoformat()},
            "modified_at": None
            if modified is None
            else {"$datetime": modified.isoformat()},
            "status_since": {"$datetime": case.status_since.isoformat()},
            "solution": case.solution,
            "requirements": _tagged(case.requirements),
            "settings_version": case.settings_version,
        }
    )


def case_from_json(text: str, version: int) -> Case:
    """The case of :func:`case_to_json` text, at ``version``.

    The keys are known, so only custom fields that hold tagged values go through
    the general untagging (a plan or a recompute reads every open case).
    """
    data = json.loads(text)
    fields = data["fields"]
    if any(isinstance(v, dict | list) for v in fields.values()):
        fields = _untag(fields)
    status = data["status"]
    modified = data["modified_at"]
    requirements = data["requirements"]
    return Case._restore(
        id=data["id"],
        number=data["number"],
        status=status_named(status["$status"], closed=status["closed"]),
        priority=data["priority"],
        owner=data["owner"],
        fields=FrozenMap(fields),
        created_at=datetime.fromisoformat(data["created_at"]["$datetime"]),
        modified_at=None
        if modified is None
        else datetime.fromisoformat(modified["$datetime"]),
        status_since=datetime.fromisoformat(data["status_since"]["$datetime"]),
        solution=data["solution"],
        requirements=FrozenMap(requirements) if requirements else _NO_REQUIREMENTS,
        version=version,
        settings_version=data.get("settings_version"),  # none before pinning
    )


_NO_REQUIREMENTS: Final[FrozenMap[str, int]] = FrozenMap()
_STATUSES: dict[tuple[str, bool], Status] = {}


def status_named(name: str, *, closed: bool) -> Status:
    """The status of that name and kind: a value, so one object serves every
    case in it (a store holds few statuses; the cache is bounded all the same)."""
    status = _STATUSES.get((name, closed))
    if status is None:
        status = Status(name, closed=closed)
        if len(_STATUSES) < 1_000:
            _STATUSES[(name, closed)] = status
    return status


def mail_to_json(mail: OutgoingMail) -> str:
    """An outgoing mail as JSON text (what :func:`dumps` gives: its values are
    text, but for the headers, tagged if they need it). A mail with no headers
    (what the engine queues) is written field by field, keys in order."""
    if not mail.headers:
        s = _STRING
        created, html = mail.created_at, mail.html
        return (
            f'{{"created_at": {"null" if created is None else s(created.isoformat())}'
            f', "headers": {{}}, "html": {"null" if html is None else s(html)}'
            f', "key": {s(mail.key)}, "message_id": {s(mail.message_id)}'
            f', "purpose": {s(mail.purpose)}, "recipient": {s(mail.recipient)}'
            f', "sender": {s(mail.sender)}, "subject": {s(mail.subject)}'
            f', "text": {s(mail.text)}}}'
        )
    return _ENCODE(
        {
            "key": mail.key,
            "recipient": mail.recipient,
            "sender": mail.sender,
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
            "headers": _tagged(mail.headers),
            "purpose": mail.purpose,
            "message_id": mail.message_id,
            "created_at": None
            if mail.created_at is None
            else mail.created_at.isoformat(),
        }
    )


def mail_from_json(text: str) -> OutgoingMail:
    """The mail of :func:`mail_to_json` text."""
    data = loads(text)
    data["headers"] = FrozenMap(data["headers"])
    created = data.pop("created_at", None)  # none in mails queued before it existed
    return OutgoingMail(
        **data, created_at=None if created is None else datetime.fromisoformat(created)
    )


def task_to_json(task: Task) -> str:
    """A task as JSON text."""
    return dumps(attrs.asdict(task, recurse=False))


def task_from_json(text: str) -> Task:
    """The task of :func:`task_to_json` text."""
    return Task(**loads(text))


def document_to_json(document: EscalationDocument) -> str:
    """An escalation document as JSON text."""
    data = attrs.asdict(document, recurse=False)
    data["kind"] = document.kind.value
    return dumps(data)


def document_from_json(text: str) -> EscalationDocument:
    """The document of :func:`document_to_json` text."""
    data = loads(text)
    data["kind"] = DocumentKind(data["kind"])
    return EscalationDocument(**data)


def deletion_to_json(deletion: CaseDeletion) -> str:
    """A case deletion record as JSON text."""
    data = attrs.asdict(deletion, recurse=False)
    data["head"] = [deletion.head.case_id, deletion.head.count, deletion.head.hash]
    return dumps(data)


def deletion_from_json(text: str) -> CaseDeletion:
    """The record of :func:`deletion_to_json` text."""
    data = loads(text)
    data["head"] = HistoryHead(*data["head"])
    return CaseDeletion(**data)


def lead_to_json(lead: Lead) -> str:
    """A lead as JSON text (its version is stored beside it)."""
    data = attrs.asdict(lead, recurse=False)
    del data["version"]
    return dumps(data)


def lead_from_json(text: str, version: int) -> Lead:
    """The lead of :func:`lead_to_json` text, at ``version``."""
    return Lead(version=version, **loads(text))
