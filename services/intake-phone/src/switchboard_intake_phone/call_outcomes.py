"""What a call amounts to, decided from its facts: a voicemail, a callback request, or nothing.

Pure logic and data, no I/O. One :class:`CallLedger` per call holds the facts not yet decided
(with their offsets in phone.callbacks.v1, so the processor can hold its commit below them) and
what was already decided. :meth:`CallLedger.decide` returns the next decision due, if any:

* a recording and its transcript make one **voicemail**; a recording whose transcript does not come
  within ``transcript_timeout`` is published without it (flagged ``missing``), and a transcript
  that comes later still follows as a **transcript** message in the same conversation;
* a transfer someone answered means somebody talked to the caller: **answered**, no message;
* a call that ended (plus ``call_end_grace`` for a late recording), or a transfer nobody answered
  followed by no voicemail within ``voicemail_window``, is a **callback request**;
* a fact that adds nothing to what was decided is covered as **nothing new**.

Every decision covers at least one fact, so repeated calls to ``decide`` end. Timers run from the
facts' own ``received_at``: replaying the facts after a restart reaches the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from switchboard_common.events.models import TranscriptStatus
from switchboard_intake_phone.facts import CallFact, CallStatus, Decision, FactKind, Outcome

DECIDED_OUTCOMES = frozenset({Outcome.VOICEMAIL, Outcome.CALLBACK_REQUEST, Outcome.ANSWERED})


@dataclass(frozen=True, slots=True)
class Timing:
    transcript_timeout: timedelta
    recording_wait: timedelta
    call_end_grace: timedelta
    voicemail_window: timedelta


@dataclass(frozen=True, slots=True)
class CallDecision:
    """A decision and the facts it consumed; ``recording``/``transcription`` for voicemails."""

    outcome: Outcome
    covers: tuple[CallFact, ...]
    recording: CallFact | None = None
    transcription: CallFact | None = None

    @property
    def fact_ids(self) -> list[str]:
        return [f.fact_id for f in self.covers]


@dataclass(slots=True)
class CallLedger:
    """One call: facts awaiting a decision, and what was decided before."""

    key: str
    pending: dict[str, tuple[CallFact, int]] = field(default_factory=dict)
    covered: set[str] = field(default_factory=set)
    outcomes: set[Outcome] = field(default_factory=set)
    voicemail_transcript: TranscriptStatus | None = None
    history: list[CallFact] = field(default_factory=list)
    """Facts already decided that later messages of the call still draw on (caller, language, team)."""
    last_activity: datetime | None = None

    # -- input ---------------------------------------------------------------------------------

    def add(self, fact: CallFact, offset: int) -> bool:
        """Take in a provider fact; False when it was seen or decided already (a retried callback)."""
        self._touch(fact.received_at)
        if fact.fact_id in self.covered:
            return False
        known = self.pending.get(fact.fact_id)
        if known is not None:
            if offset < known[1]:
                self.pending[fact.fact_id] = (known[0], offset)
            return False
        self.pending[fact.fact_id] = (fact, offset)
        return True

    def remember(self, decided: CallFact) -> None:
        """Take in a decision (read back on assignment, or just made)."""
        decision = decided.decision
        if decision is None:
            return
        self._touch(decided.received_at)
        for fact_id in decision.covers:
            self.covered.add(fact_id)
            entry = self.pending.pop(fact_id, None)
            if entry is not None:
                self.history.append(entry[0])
        self.outcomes.add(decision.outcome)
        if decision.outcome is Outcome.VOICEMAIL:
            self.voicemail_transcript = decision.transcript

    def _touch(self, when: datetime) -> None:
        if self.last_activity is None or when > self.last_activity:
            self.last_activity = when

    # -- decisions -----------------------------------------------------------------------------

    @property
    def floor(self) -> int | None:
        """The lowest offset of a fact not yet decided."""
        return min((offset for _, offset in self.pending.values()), default=None)

    def _facts(self, kind: FactKind) -> list[CallFact]:
        return sorted((f for f, _ in self.pending.values() if f.kind is kind), key=lambda f: f.received_at)

    def decide(self, now: datetime, timing: Timing) -> CallDecision | None:
        """The next decision due at ``now``, or None (nothing pending, or waiting for a timer)."""
        recordings = self._facts(FactKind.RECORDING)
        completed = [r for r in recordings if r.recording is not None and r.recording.completed]
        transcriptions = self._facts(FactKind.TRANSCRIPTION)
        usable = [t for t in transcriptions if t.transcription is not None and t.transcription.completed]
        statuses = self._facts(FactKind.TRANSFER) + self._facts(FactKind.CALL_ENDED)

        if Outcome.VOICEMAIL not in self.outcomes:
            recording = completed[0] if completed else None
            candidates = usable or transcriptions
            transcription = candidates[0] if candidates else None
            content = tuple(recordings + transcriptions)
            if recording is not None and transcription is not None:
                return CallDecision(Outcome.VOICEMAIL, content, recording, transcription)
            if recording is not None and now >= recording.received_at + timing.transcript_timeout:
                return CallDecision(Outcome.VOICEMAIL, content, recording, None)
            if (
                recording is None
                and transcription is not None
                and now >= transcription.received_at + timing.recording_wait
            ):
                return CallDecision(Outcome.VOICEMAIL, content, None, transcription)
        else:
            late = usable[0] if usable else None
            if (
                late is not None
                and self.voicemail_transcript is TranscriptStatus.MISSING
                and Outcome.TRANSCRIPT not in self.outcomes
            ):
                return CallDecision(Outcome.TRANSCRIPT, tuple(transcriptions), None, late)
            if recordings or transcriptions:
                return CallDecision(Outcome.NOTHING_NEW, tuple(recordings + transcriptions))

        voicemail_pending = bool(completed or transcriptions) and Outcome.VOICEMAIL not in self.outcomes
        failed_recordings = [r for r in recordings if r not in completed]
        if voicemail_pending:
            return None
        if statuses and self.outcomes & DECIDED_OUTCOMES:
            return CallDecision(Outcome.NOTHING_NEW, tuple(statuses + failed_recordings))
        if any(s.kind is FactKind.TRANSFER and s.status is CallStatus.ANSWERED for s in statuses):
            return CallDecision(Outcome.ANSWERED, tuple(statuses + failed_recordings))
        ended = [s for s in statuses if s.kind is FactKind.CALL_ENDED]
        missed = [s for s in statuses if s.kind is FactKind.TRANSFER]
        evidence = tuple(statuses + failed_recordings)
        if ended and now >= ended[0].received_at + timing.call_end_grace:
            return CallDecision(Outcome.CALLBACK_REQUEST, evidence)
        if missed and now >= missed[0].received_at + timing.voicemail_window:
            return CallDecision(Outcome.CALLBACK_REQUEST, evidence)
        if failed_recordings and now >= failed_recordings[0].received_at + timing.call_end_grace:
            if self.outcomes & DECIDED_OUTCOMES:
                return CallDecision(Outcome.NOTHING_NEW, evidence)
            return CallDecision(Outcome.CALLBACK_REQUEST, evidence)
        return None

    def due_at(self, timing: Timing) -> datetime | None:
        """When a timer of this call fires next (None: nothing waits on a timer)."""
        if not self.pending:
            return None
        times: list[datetime] = []
        for fact, _ in self.pending.values():
            if fact.kind is FactKind.RECORDING:
                wait = (
                    timing.transcript_timeout if fact.recording and fact.recording.completed else timing.call_end_grace
                )
                times.append(fact.received_at + wait)
            elif fact.kind is FactKind.TRANSCRIPTION:
                times.append(fact.received_at + timing.recording_wait)
            elif fact.kind is FactKind.CALL_ENDED:
                times.append(fact.received_at + timing.call_end_grace)
            elif fact.kind is FactKind.TRANSFER:
                times.append(fact.received_at + timing.voicemail_window)
        return min(times) if times else None

    def apply(self, decision: CallDecision, event_ids: list[str], transcript: TranscriptStatus | None) -> CallFact:
        """Record ``decision`` as made; returns the ``decided`` fact to publish with its messages."""
        anchor = decision.covers[0]
        decided = CallFact(
            fact_id=f"{anchor.call_key}/decided/{decision.outcome.value}/{decision.covers[0].fact_id}",
            kind=FactKind.DECIDED,
            provider=anchor.provider,
            account=anchor.account,
            call_id=anchor.call_id,
            received_at=max(f.received_at for f in decision.covers),
            decision=Decision(
                outcome=decision.outcome, covers=decision.fact_ids, event_ids=event_ids, transcript=transcript
            ),
        )
        self.remember(decided)
        return decided

    def context(self, decision: CallDecision) -> list[CallFact]:
        """The facts a decision's message draws on: its own, then earlier ones of the call."""
        return [*decision.covers, *self.history]
