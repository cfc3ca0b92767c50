"""State rebuilt from the dispatcher's own records decides as the state that wrote them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from switchboard_common.events.models import (
    EscalationReason,
    Incident,
    MessageTopic,
    MessageType,
    RoutedMessage,
)
from switchboard_common.routing import EscalationPolicy, IncidentPolicy, RoutingConfig, load_routing_config
from switchboard_dispatcher.decision import dispatch
from switchboard_dispatcher.state import DispatcherState, PartitionState, RoutedFacts, StateWindows

RULES = load_routing_config()


def live(config: RoutingConfig, messages, *, windows: StateWindows | None = None) -> tuple[DispatcherState, list]:
    state = DispatcherState(windows or StateWindows())
    state.partitions[0] = PartitionState()
    decisions = [
        dispatch(m, state, config, m.message.received_at + timedelta(seconds=1), partition=0) for m in messages
    ]
    return state, decisions


def rebuilt(
    config: RoutingConfig,
    records: Sequence[RoutedMessage],
    now: datetime,
    *,
    incidents: Sequence[Incident] = (),
    windows: StateWindows | None = None,
) -> DispatcherState:
    state = DispatcherState(windows or StateWindows())
    partition = PartitionState()
    for record in records:
        partition.record(RoutedFacts.of(record), now=now, windows=state.windows, incidents=config.incidents)
    state.adopt({0: partition}, incidents, incidents=config.incidents)
    return state


def test_a_rebuilt_state_suppresses_a_message_routed_before(make_classified, t0):
    original = make_classified(offset=1, received_at=t0)
    _, decisions = live(RULES, [original])
    state = rebuilt(RULES, [decisions[0].routed], now=t0 + timedelta(hours=1))

    again = dispatch(original, state, RULES, t0 + timedelta(hours=1), partition=0)

    assert again.is_duplicate is True


def test_a_rebuilt_state_forgets_message_ids_older_than_the_dedup_window(make_classified, t0):
    original = make_classified(offset=1, received_at=t0)
    _, decisions = live(RULES, [original])
    later = t0 + timedelta(hours=30)
    state = rebuilt(RULES, [decisions[0].routed], now=later, windows=StateWindows(dedup=timedelta(hours=24)))

    assert dispatch(original, state, RULES, later, partition=0).is_duplicate is False


def test_a_rebuilt_state_continues_the_conversations_case(make_classified, t0):
    first = make_classified(type=MessageType.COMPLAINT, topic=MessageTopic.LOGISTICS, offset=1, received_at=t0)
    _, decisions = live(RULES, [first])
    now = t0 + timedelta(days=1)
    state = rebuilt(RULES, [decisions[0].routed], now=now)

    follow_up = dispatch(
        make_classified(type=MessageType.COMPLAINT, offset=2, received_at=now), state, RULES, now, partition=0
    )

    assert follow_up.routed is not None
    assert follow_up.routed.routing.case_reference == decisions[0].routed.routing.case_reference
    assert follow_up.routed.routing.is_follow_up is True
    assert follow_up.routed.routing.department == "logistics"
    assert follow_up.routed.routing.escalation_reasons == [EscalationReason.REPEATED_COMPLAINT]


def test_a_rebuild_that_starts_inside_a_case_keeps_the_repeated_complaints_it_was_told_of(make_classified, t0):
    config = RULES.model_copy(update={"escalation": EscalationPolicy(repeated_complaints=3)})
    complaints = [make_classified(type=MessageType.COMPLAINT, offset=n, received_at=t0) for n in range(3)]
    _, decisions = live(config, complaints)
    assert decisions[2].routed.routing.escalation_reasons == [EscalationReason.REPEATED_COMPLAINT]
    now = t0 + timedelta(hours=1)
    state = rebuilt(config, [decisions[2].routed], now=now)  # the earlier records are out of reach

    fourth = dispatch(
        make_classified(type=MessageType.COMPLAINT, offset=3, received_at=now), state, config, now, partition=0
    )

    assert fourth.routed is not None
    assert EscalationReason.REPEATED_COMPLAINT in fourth.routed.routing.escalation_reasons


def test_a_rebuilt_state_forgets_cases_beyond_the_case_memory(make_classified, t0):
    windows = StateWindows(follow_up=timedelta(days=7), case_memory=timedelta(days=7))
    _, decisions = live(RULES, [make_classified(offset=1, received_at=t0)], windows=windows)
    now = t0 + timedelta(days=8)
    state = rebuilt(RULES, [decisions[0].routed], now=now, windows=windows)

    assert state.partition(0).conversations == {}


def surge(make_classified, t0, count: int, start: int = 0):
    return [
        make_classified(
            type=MessageType.COMPLAINT,
            topic=MessageTopic.PAYMENT,
            conversation_id=f"c{n}",
            offset=n,
            received_at=t0 + timedelta(seconds=10 * n),
        )
        for n in range(start, start + count)
    ]


def test_a_surge_already_reported_is_not_reported_again_after_a_rebuild(make_classified, t0):
    config = RULES.model_copy(update={"incidents": IncidentPolicy(threshold=3, window=timedelta(minutes=10))})
    _, decisions = live(config, surge(make_classified, t0, 4))
    raised = [d.incident for d in decisions if d.incident is not None]
    assert len(raised) == 1
    now = t0 + timedelta(minutes=1)
    state = rebuilt(config, [d.routed for d in decisions], now=now, incidents=raised)

    later = [dispatch(m, state, config, now, partition=0) for m in surge(make_classified, t0, 3, start=10)]

    assert all(d.incident is None for d in later)


def test_a_surge_whose_incident_was_never_committed_is_reported_when_it_goes_on(make_classified, t0):
    config = RULES.model_copy(update={"incidents": IncidentPolicy(threshold=3, window=timedelta(minutes=10))})
    _, decisions = live(config, surge(make_classified, t0, 2))
    now = t0 + timedelta(minutes=1)
    state = rebuilt(config, [d.routed for d in decisions], now=now)

    third = dispatch(surge(make_classified, t0, 1, start=2)[0], state, config, now, partition=0)

    assert third.incident is not None


def test_an_incident_read_back_lasts_as_long_as_the_surge_it_reported(make_classified, t0):
    config = RULES.model_copy(update={"incidents": IncidentPolicy(threshold=3, window=timedelta(minutes=10))})
    messages = surge(make_classified, t0, 40)  # one complaint every 10 s for 400 s
    _, decisions = live(config, messages)
    raised = [d.incident for d in decisions if d.incident is not None]
    state = rebuilt(config, [d.routed for d in decisions], now=t0 + timedelta(minutes=7), incidents=raised)

    incident = state.incidents[MessageTopic.PAYMENT]
    assert incident.detected_at == t0 + timedelta(seconds=20)
    assert incident.last_surge_at == t0 + timedelta(seconds=390)


def test_dropping_partitions_forgets_their_state_and_the_incidents(make_classified, t0):
    config = RULES.model_copy(update={"incidents": IncidentPolicy(threshold=2, window=timedelta(minutes=10))})
    state, _ = live(config, surge(make_classified, t0, 2))
    state.partitions[1] = PartitionState()
    assert state.incidents

    state.drop({0})

    assert set(state.partitions) == {1}
    assert state.incidents == {}
