"""What a call amounts to: the pairing of recording and transcript, the timeouts, missed calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard_common.events.models import TranscriptStatus
from switchboard_intake_phone.call_outcomes import CallLedger, Timing
from switchboard_intake_phone.facts import (
    Caller,
    CallFact,
    CallStatus,
    FactKind,
    Outcome,
    Recording,
    Transcription,
)

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
TIMING = Timing(
    transcript_timeout=timedelta(seconds=25),
    recording_wait=timedelta(seconds=10),
    call_end_grace=timedelta(seconds=15),
    voicemail_window=timedelta(minutes=3),
)


def fact(kind: FactKind, at: float, fact_id: str | None = None, **fields) -> CallFact:
    return CallFact(
        fact_id=fact_id or f"{kind.value}-{at}",
        kind=kind,
        provider="twilio",
        account="AC1",
        call_id="CA1",
        received_at=T0 + timedelta(seconds=at),
        caller=Caller(our_number="+18005550123", number="+14155550100"),
        **fields,
    )


def recording(at: float = 0, completed: bool = True) -> CallFact:
    return fact(FactKind.RECORDING, at, "rec", recording=Recording(completed=completed, url="https://r", sid="RE1"))


def transcription(at: float, text: str = "my parcel is late", completed: bool = True) -> CallFact:
    return fact(FactKind.TRANSCRIPTION, at, f"tr-{at}", transcription=Transcription(completed=completed, text=text))


def transfer(at: float, status: CallStatus) -> CallFact:
    return fact(FactKind.TRANSFER, at, f"transfer-{at}", status=status)


def ended(at: float, status: CallStatus = CallStatus.COMPLETED) -> CallFact:
    return fact(FactKind.CALL_ENDED, at, "end", status=status)


def run(ledger: CallLedger, at: float) -> list[Outcome]:
    """Every decision due at ``at`` seconds, applied as the processor applies them."""
    outcomes = []
    while (decision := ledger.decide(T0 + timedelta(seconds=at), TIMING)) is not None:
        transcript = None
        if decision.outcome is Outcome.VOICEMAIL:
            trans = decision.transcription.transcription if decision.transcription else None
            transcript = (
                TranscriptStatus.TRANSCRIBED
                if trans and trans.completed
                else TranscriptStatus.FAILED
                if trans
                else TranscriptStatus.MISSING
            )
        ledger.apply(decision, [], transcript)
        outcomes.append(decision.outcome)
    return outcomes


def ledger_with(*facts: CallFact) -> CallLedger:
    ledger = CallLedger("twilio/AC1/CA1")
    for offset, item in enumerate(facts):
        ledger.add(item, offset)
    return ledger


def test_a_recording_and_its_transcript_are_one_voicemail():
    ledger = ledger_with(recording(0))
    assert run(ledger, 1) == []
    ledger.add(transcription(8), 1)
    assert run(ledger, 8) == [Outcome.VOICEMAIL]
    assert ledger.voicemail_transcript is TranscriptStatus.TRANSCRIBED
    assert ledger.pending == {}


def test_the_voicemail_decision_carries_both_callbacks():
    ledger = ledger_with(recording(0), transcription(5))
    decision = ledger.decide(T0 + timedelta(seconds=5), TIMING)
    assert decision is not None
    assert decision.recording is not None and decision.transcription is not None
    assert {f.fact_id for f in decision.covers} == {"rec", "tr-5"}


def test_a_transcript_that_never_comes_gives_an_untranscribed_voicemail_after_the_timeout():
    ledger = ledger_with(recording(0))
    assert run(ledger, 24) == []
    assert ledger.due_at(TIMING) == T0 + timedelta(seconds=25)
    assert run(ledger, 25) == [Outcome.VOICEMAIL]
    assert ledger.voicemail_transcript is TranscriptStatus.MISSING


def test_a_transcript_after_the_timeout_follows_as_a_transcript_message():
    ledger = ledger_with(recording(0))
    run(ledger, 30)
    ledger.add(transcription(90), 5)
    assert run(ledger, 90) == [Outcome.TRANSCRIPT]
    assert ledger.pending == {}


def test_a_second_late_transcript_adds_nothing():
    ledger = ledger_with(recording(0))
    run(ledger, 30)
    ledger.add(transcription(90), 5)
    run(ledger, 90)
    ledger.add(transcription(95, "again"), 6)
    assert run(ledger, 95) == [Outcome.NOTHING_NEW]


def test_a_failed_transcription_gives_a_voicemail_flagged_failed_at_once():
    ledger = ledger_with(recording(0), transcription(4, text="", completed=False))
    assert run(ledger, 4) == [Outcome.VOICEMAIL]
    assert ledger.voicemail_transcript is TranscriptStatus.FAILED


def test_a_transcript_before_its_recording_waits_for_it():
    ledger = ledger_with(transcription(0))
    assert run(ledger, 5) == []
    ledger.add(recording(6), 1)
    assert run(ledger, 6) == [Outcome.VOICEMAIL]
    assert ledger.voicemail_transcript is TranscriptStatus.TRANSCRIBED


def test_a_transcript_whose_recording_callback_never_comes_is_a_voicemail_after_a_short_wait():
    ledger = ledger_with(transcription(0))
    assert run(ledger, 10) == [Outcome.VOICEMAIL]


def test_a_retried_callback_is_taken_once():
    ledger = ledger_with(recording(0))
    assert not ledger.add(recording(3), 7)
    ledger.add(transcription(4), 8)
    run(ledger, 4)
    assert not ledger.add(recording(60), 9)  # decided already
    assert not ledger.add(transcription(4), 10)
    assert run(ledger, 61) == []


def test_the_floor_holds_the_oldest_undecided_fact():
    ledger = ledger_with(recording(0))
    ledger.add(ended(2), 4)
    assert ledger.floor == 0
    ledger.add(transcription(5), 9)
    run(ledger, 5)
    assert ledger.floor is None


def test_a_call_that_ends_without_voicemail_or_agent_is_a_callback_request_after_the_grace():
    ledger = ledger_with(ended(0))
    assert run(ledger, 14) == []
    assert run(ledger, 15) == [Outcome.CALLBACK_REQUEST]


def test_a_voicemail_that_follows_the_calls_end_within_the_grace_is_the_only_message():
    ledger = ledger_with(ended(0), recording(3), transcription(9))
    assert run(ledger, 20) == [Outcome.VOICEMAIL, Outcome.NOTHING_NEW]


def test_a_call_an_agent_answered_gives_no_message():
    ledger = ledger_with(transfer(0, CallStatus.ANSWERED), ended(60))
    assert run(ledger, 100) == [Outcome.ANSWERED]
    assert ledger.pending == {}


def test_an_unanswered_transfer_then_a_voicemail_is_one_voicemail():
    ledger = ledger_with(transfer(0, CallStatus.BUSY), recording(30), transcription(40), ended(41))
    assert run(ledger, 41) == [Outcome.VOICEMAIL, Outcome.NOTHING_NEW]


def test_an_unanswered_transfer_and_no_voicemail_is_a_callback_request_when_the_call_ends():
    ledger = ledger_with(transfer(0, CallStatus.NO_ANSWER), ended(20))
    assert run(ledger, 34) == []
    assert run(ledger, 35) == [Outcome.CALLBACK_REQUEST]


def test_an_unanswered_transfer_without_a_status_callback_is_a_callback_request_after_the_window():
    ledger = ledger_with(transfer(0, CallStatus.NO_ANSWER))
    assert run(ledger, 179) == []
    assert run(ledger, 180) == [Outcome.CALLBACK_REQUEST]


def test_a_failed_recording_is_a_callback_request():
    ledger = ledger_with(recording(0, completed=False))
    assert run(ledger, 15) == [Outcome.CALLBACK_REQUEST]


def test_a_recording_after_a_callback_request_still_becomes_a_voicemail():
    ledger = ledger_with(ended(0))
    run(ledger, 15)
    ledger.add(recording(40), 3)
    ledger.add(transcription(41), 4)
    assert run(ledger, 41) == [Outcome.VOICEMAIL]


def test_a_status_after_the_call_was_decided_adds_nothing():
    ledger = ledger_with(recording(0), transcription(2))
    run(ledger, 2)
    ledger.add(ended(3), 4)
    assert run(ledger, 3) == [Outcome.NOTHING_NEW]


def test_decisions_read_back_make_replayed_facts_produce_nothing():
    original = ledger_with(recording(0), transcription(2))
    decision = original.decide(T0 + timedelta(seconds=2), TIMING)
    assert decision is not None
    decided = original.apply(decision, ["event-1"], TranscriptStatus.TRANSCRIBED)

    rebuilt = CallLedger("twilio/AC1/CA1")
    rebuilt.remember(decided)
    assert not rebuilt.add(recording(0), 0)
    assert not rebuilt.add(transcription(2), 1)
    assert run(rebuilt, 1000) == []
