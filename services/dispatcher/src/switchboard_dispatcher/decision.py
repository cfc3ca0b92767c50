"""The dispatcher's business step: one classified message in, one routing decision out.

:func:`decide` is pure: it reads the rules and the state and returns what to publish.
:func:`dispatch` decides and applies the decision to the state, as the processor does per message.

Per message the decision holds:

* the routing record for ``intake.routed.v1`` (always, unless the message is a duplicate): the
  department, or none for a non-actionable message, which is recorded and not routed;
* the department's case event (contact details masked) when routed to a department;
* the escalation case event when the escalation policy applies (the department route stays);
* an incident when this complaint makes its topic surge and no incident is open for it.

Cases: a message opens a case whose reference derives from its position in ``intake.messages.v1``
(the notifier derives the same reference on its own). A follow-up keeps the case's reference and
goes to the department that owns the case, unless the customer chose a team on the channel, or the
rules no longer route to that department: a case is worked by one team, and a short "any news?"
would otherwise land wherever its own wording points. A message is a follow-up when

* it quotes the reference of a case (``thread.quoted_case_references``, the first that names a case),
  from any conversation on any channel: the processor looks the case and its owner up
  (:mod:`switchboard_dispatcher.case_directory`) and passes it in as ``quoted``; when the case
  exists but its owner cannot be found, the message keeps the reference and is routed by the rules;
* or it continues its conversation's case: within the follow-up window of the case's last activity,
  or quoting the case's reference within the case memory.

``Routing.linked_by`` says which: ``quoted_reference`` or ``conversation``. A quoted reference that
names no case (mistyped, unknown) is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from switchboard_common.case_reference import (
    IntakePosition,
    InvalidCaseReference,
    case_reference,
    normalise_case_reference,
)
from switchboard_common.events import InvalidMessage
from switchboard_common.events.models import (
    Attachment,
    CaseEvent,
    CaseLink,
    ClassifiedMessage,
    Entities,
    Incident,
    MaskedCustomer,
    MessageType,
    RoutedMessage,
    Routing,
)
from switchboard_common.identity import derived_event_id
from switchboard_common.pii import mask_email, mask_handle, mask_phone, mask_text
from switchboard_common.routing import (
    HINT,
    MessageFacts,
    RouteDecision,
    RoutingConfig,
    escalation_reasons,
    resolution_deadline,
    route,
)
from switchboard_dispatcher.case_directory import QuotedCase
from switchboard_dispatcher.state import ConversationCase, DispatcherState, RoutedFacts, StateWindows, as_utc

NON_ACTIONABLE_RULE = "non-actionable"
FOLLOW_UP_RULE = "follow-up"
INCIDENT_SAMPLE_SIZE = 5


@dataclass(frozen=True, slots=True)
class Decision:
    """What to publish for one classified message; ``routed`` is None for a suppressed duplicate."""

    message_event_id: str
    routed: RoutedMessage | None
    department_case: CaseEvent | None = None
    escalation: CaseEvent | None = None
    incident: Incident | None = None

    @property
    def is_duplicate(self) -> bool:
        return self.routed is None

    @property
    def facts(self) -> RoutedFacts:
        assert self.routed is not None, "a duplicate changes nothing"
        return RoutedFacts.of(self.routed)


def decide(
    classified: ClassifiedMessage,
    state: DispatcherState,
    config: RoutingConfig,
    now: datetime,
    *,
    partition: int,
    quoted: QuotedCase | None = None,
) -> Decision:
    """Route one classified message read from ``partition`` of ``intake.classified.v1``.

    ``quoted`` is the case the message quotes when that is not its conversation's case (looked up
    by the processor); it wins over the conversation's case: the customer named it.
    """
    message = classified.message
    own_reference = _check(classified)
    memory = state.partition(partition)
    if message.event_id in memory.seen:
        return Decision(message_event_id=message.event_id, routed=None)

    classification = classified.classification
    received_at = as_utc(message.received_at)
    references = canonical_references(message.thread.quoted_case_references)
    conversation = memory.current_case(message.conversation_id, received_at, references, state.windows)
    link = _link(conversation, quoted, received_at, state.windows)

    decision = route(
        config,
        classification,
        MessageFacts(
            channel=message.channel,
            kind=message.kind,
            hint=message.routing_hints.department,
            automated=message.automated is not None,
        ),
    )
    if (
        link is not None
        and link.department is not None
        and decision.department is not None
        and not _customer_chose(config, decision)
        and link.department in config.departments()  # else the rules no longer send anything there
    ):
        decision = RouteDecision(department=link.department, rule=FOLLOW_UP_RULE)

    if decision.department is None:
        reasons = []
    else:
        earlier = link.complaints if link is not None else 0
        reasons = escalation_reasons(config, classification, earlier_complaints_in_conversation=earlier)
    routing = Routing(
        department=decision.department,
        case_reference=link.case_reference if link is not None else own_reference,
        is_follow_up=link is not None,
        linked_by=link.by if link is not None else None,
        escalated=bool(reasons),
        escalation_reasons=reasons,
        rule=decision.rule,
        priority=classification.priority,
        resolution_due_at=resolution_deadline(config, classification.priority, received_at)
        if decision.department is not None
        else None,
        routed_at=now,
    )
    routed = RoutedMessage(
        event_id=derived_event_id(message.event_id, "routed"),
        message=message,
        intake_position=classified.intake_position,
        classification=classification,
        routing=routing,
    )
    if decision.department is None:
        return Decision(message_event_id=message.event_id, routed=routed)
    department_case = case_event(routed, derived_event_id(message.event_id, "dept"))
    return Decision(
        message_event_id=message.event_id,
        routed=routed,
        department_case=department_case,
        # The same case for the supervisors: only its event id differs.
        escalation=department_case.model_copy(update={"event_id": derived_event_id(message.event_id, "escalation")})
        if reasons
        else None,
        incident=_surge(routed, state, config),
    )


def dispatch(
    classified: ClassifiedMessage,
    state: DispatcherState,
    config: RoutingConfig,
    now: datetime,
    *,
    partition: int,
    quoted: QuotedCase | None = None,
) -> Decision:
    """Decide, and remember the decision: the processor's step for every message."""
    decision = decide(classified, state, config, now, partition=partition, quoted=quoted)
    if not decision.is_duplicate:
        state.record(partition, decision.facts, now=now, incidents=config.incidents, raised=decision.incident)
    return decision


def case_event(routed: RoutedMessage, event_id: str) -> CaseEvent:
    """A case as a department sees it: contact details masked, no reply address."""
    message, classification, routing = routed.message, routed.classification, routed.routing
    assert routing.department is not None, "only routed messages become cases"
    subject = classification.masked_subject
    if subject is None and message.subject is not None:
        subject = message.subject
    entities = classification.entities
    return CaseEvent(
        event_id=event_id,
        case_reference=routing.case_reference,
        message_event_id=message.event_id,
        department=routing.department,
        is_follow_up=routing.is_follow_up,
        linked_by=routing.linked_by,
        channel=message.channel,
        kind=message.kind,
        received_at=message.received_at,
        routed_at=routing.routed_at,
        conversation_id=message.conversation_id,
        customer=MaskedCustomer(
            key=message.customer.key,
            handle_masked=mask_handle(message.customer.handle),
            display_name=mask_text(message.customer.display_name) if message.customer.display_name else None,
        ),
        language=classification.language,
        type=classification.type,
        topic=classification.topic,
        priority=classification.priority,
        resolution_due_at=routing.resolution_due_at,
        sentiment=classification.sentiment,
        escalated=routing.escalated,
        escalation_reasons=routing.escalation_reasons,
        # The classifier masks already; masking again is a no-op on masked text and catches what it missed.
        subject_masked=mask_text(subject) if subject is not None else None,
        text_masked=mask_text(classification.masked_text),
        entities=Entities(
            order_numbers=entities.order_numbers,
            tracking_numbers=entities.tracking_numbers,
            amounts=entities.amounts,
            phone_numbers=[mask_phone(number) for number in entities.phone_numbers],
            emails=[mask_email(address) for address in entities.emails],
        ),
        attachments=[_masked_attachment(a) for a in message.attachments],
        confidence=classification.confidence,
    )


def _masked_attachment(attachment: Attachment) -> Attachment:
    if attachment.filename is None:
        return attachment
    return attachment.model_copy(update={"filename": mask_text(attachment.filename)})


def _surge(routed: RoutedMessage, state: DispatcherState, config: RoutingConfig) -> Incident | None:
    """An incident when this complaint brings its topic to the threshold and none is open for it.

    Complaints are counted once per conversation: one customer writing ten times is a repeated
    complaint (escalated as such), not a surge.
    """
    if routed.classification.type is not MessageType.COMPLAINT:
        return None
    policy = config.incidents
    topic = routed.classification.topic
    received_at = as_utc(routed.message.received_at)
    window = state.surge(topic, received_at, policy.window)
    anchor = window.newest or received_at
    if state.open_incident(topic, anchor, policy.window) is not None:
        return None
    count = window.distinct
    if received_at > anchor - policy.window and routed.message.conversation_id not in window:
        count += 1
    if count < policy.threshold:
        return None
    samples: list[str] = [routed.routing.case_reference]
    for complaint in window.newest_first():
        if len(samples) == INCIDENT_SAMPLE_SIZE:
            break
        if complaint.case_reference not in samples:
            samples.append(complaint.case_reference)
    return Incident(
        incident_id=derived_event_id(routed.message.event_id, "incident"),
        detected_at=anchor,
        type=MessageType.COMPLAINT,
        topic=topic,
        department=routed.routing.department,
        window_seconds=int(policy.window.total_seconds()),
        count=count,
        threshold=policy.threshold,
        sample_case_references=list(reversed(samples)),
    )


@dataclass(frozen=True, slots=True)
class _Link:
    """The case a follow-up continues: its reference, its owner if known, and how it was linked."""

    case_reference: str
    department: str | None
    complaints: int
    by: CaseLink


def _link(
    conversation: ConversationCase | None, quoted: QuotedCase | None, received_at: datetime, windows: StateWindows
) -> _Link | None:
    if quoted is not None and (conversation is None or conversation.case_reference != quoted.case_reference):
        return _Link(quoted.case_reference, quoted.department, 0, CaseLink.QUOTED_REFERENCE)
    if conversation is None:
        return None
    within = received_at - conversation.last_activity_at <= windows.follow_up
    # Outside the follow-up window the conversation's case continues only because it was quoted.
    by = CaseLink.CONVERSATION if within else CaseLink.QUOTED_REFERENCE
    return _Link(conversation.case_reference, conversation.department, conversation.complaints, by)


def _customer_chose(config: RoutingConfig, decision: RouteDecision) -> bool:
    return any(rule.name == decision.rule and rule.department == HINT for rule in config.rules)


def canonical_references(references: Iterable[str]) -> list[str]:
    """The valid references among those quoted, canonical, in the order quoted, without repeats."""
    found: list[str] = []
    for reference in references:
        try:
            canonical = normalise_case_reference(reference)
        except InvalidCaseReference:
            continue
        if canonical not in found:
            found.append(canonical)
    return found


def _check(classified: ClassifiedMessage) -> str:
    """Reject what can never be routed, so that it is dead-lettered with the reason; the case reference the
    message's intake position gives (the reference of the case it opens, unless it is a follow-up)."""
    try:
        uuid.UUID(classified.message.event_id)
    except ValueError:
        raise InvalidMessage(
            f"message.event_id {classified.message.event_id!r} is not a UUID (event ids derive from it)"
        ) from None
    position = classified.intake_position
    try:
        reference = case_reference(IntakePosition(position.partition, position.offset))
    except ValueError as exc:
        raise InvalidMessage(f"intake_position cannot give a case reference: {exc}") from None
    if not classified.message.conversation_id:
        raise InvalidMessage("message.conversation_id is empty")
    return reference
