"""SLA policies: response and resolution targets per priority, counted in business
time from the events of a case, paused while waiting on the customer.

A case's service level is a pure function of (settings, the case's events): the
:func:`timeline` walks the events in order and, for each metric run, counts the
business time it was running and the time it was paused, and finds the first
instant its counted time reached its target (the breach) and each warning. A
correction is computing again; nothing is kept in a counter.

* **Metrics.** First reply (from the start to the first agent reply); next reply
  (from a customer message, once the first reply is done, to the next agent
  reply; again at each such message); periodic update (from each agent reply to
  the next one, while the case is open); requester wait, agent work and
  resolution (from the start to the close: three clocks that differ only in the
  statuses that pause them).
* **Pauses** come from the statuses the events set: ``SlaSettings.pauses`` says
  which metrics each status pauses. A solved case pauses its resolution clocks
  (a reopen resumes them where they stopped); a closed case fulfils them.
* **Targets** come from the policy in force (``POLICY`` events: the engine
  records one when another policy starts to match) and the case's priority
  (``PRIORITY`` events). A change of either retargets the running metrics: the
  time counted and paused so far is kept, the new target and calendar apply
  from the change on, and a target already passed breaches at once. A metric
  fulfilled is never touched again.
* **Order.** Events apply in the order of their instants; events at the same
  instant apply in the order given (an agent reply and a customer message at
  one instant: the reply fulfils the running next reply, then the message
  starts the next one).
* **Chain.** A store chains each case's events (:class:`SlaHead`, kept apart
  from the events), so that ``escalate verify`` finds one changed, removed or
  added outside escalate (:func:`verify_sla`).
"""

from escalate._sla_chain import SlaHead, sla_event_hash, verify_sla
from escalate._sla_report import SlaReport, SlaReportRow, nearest_rank, report
from escalate._sla_timeline import timeline
from escalate._sla_values import (
    EventKind,
    Metric,
    MetricRun,
    SlaAction,
    SlaEvent,
    SlaPolicy,
    SlaSettings,
    SlaTimeline,
    Target,
)

__all__ = [
    "EventKind",
    "Metric",
    "MetricRun",
    "SlaAction",
    "SlaEvent",
    "SlaHead",
    "SlaPolicy",
    "SlaReport",
    "SlaReportRow",
    "SlaSettings",
    "SlaTimeline",
    "Target",
    "nearest_rank",
    "report",
    "sla_event_hash",
    "timeline",
    "verify_sla",
]
