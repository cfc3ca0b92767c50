"""The IVR as TwiML: greeting, language menu, team menu, transfer or voicemail.

No state is kept between the steps of a call: each step's choices (language, team, attempt) travel
in the query string of the next callback URL, which Twilio's signature covers, so any replica can
answer any step and a caller cannot be moved to another team by a forged request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from switchboard_common.events.models import Language
from switchboard_intake_phone.ivr import IvrConfig
from switchboard_intake_phone.twiml import Dial, Enqueue, Gather, Hangup, Record, Say, TwimlResponse, Verb, render

# Callback paths under the Twilio route prefix.
MENU = "/voice/menu"
DIAL = "/voice/dial"
RECORDED = "/voice/recorded"
RECORDING = "/voice/recording"
TRANSCRIPTION = "/voice/transcription"

STEP_LANGUAGE = "language"
STEP_TEAM = "team"


@dataclass(frozen=True, slots=True)
class CallbackUrls:
    """Absolute callback URLs under ``base`` (the public URL of the Twilio routes)."""

    base: str

    def url(self, path: str, **query: str | int | None) -> str:
        params = [(k, str(v)) for k, v in sorted(query.items()) if v is not None]
        return f"{self.base.rstrip('/')}{path}" + (f"?{urlencode(params)}" if params else "")


class VoiceFlow:
    """Answers each step of a call with TwiML, from the IVR file."""

    def __init__(self, ivr: IvrConfig) -> None:
        self._ivr = ivr

    def _say(self, language: Language, key: str, **values: object) -> Say:
        voice = self._ivr.languages[language].say
        return Say(self._ivr.text(language, key, **values), voice.language, voice.voice)

    # -- steps -----------------------------------------------------------------------------------

    def incoming_call(self, urls: CallbackUrls, *, called: str | None, caller_country: str | None) -> str:
        """The greeting in the caller's likely language, then the first menu."""
        language = self._ivr.greeting_language(called, caller_country)
        greeting = self._say(language, "greeting")
        if len(self._ivr.language_menu) > 1:
            return render(TwimlResponse(self._language_menu(urls, language, attempt=1, before=[greeting])))
        chosen = next(iter(self._ivr.language_menu.values()), language)
        return render(TwimlResponse(self._team_menu(urls, chosen, attempt=1, before=[self._say(chosen, "greeting")])))

    def menu_choice(self, urls: CallbackUrls, *, step: str, language: Language, attempt: int, digits: str) -> str:
        """The caller pressed ``digits`` (empty: nothing) on the menu of ``step``."""
        ivr = self._ivr
        retry = attempt < ivr.attempts
        before = [self._say(language, "invalid_choice")] if digits else []
        if step == STEP_LANGUAGE:
            if digits in ivr.language_menu:
                return render(TwimlResponse(self._team_menu(urls, ivr.language_menu[digits], attempt=1)))
            if retry:
                return render(TwimlResponse(self._language_menu(urls, language, attempt=attempt + 1, before=before)))
            return render(TwimlResponse(self._team_menu(urls, language, attempt=1)))
        if digits in ivr.team_menu:
            return render(TwimlResponse(self._destination(urls, language, ivr.team_menu[digits])))
        if retry:
            return render(TwimlResponse(self._team_menu(urls, language, attempt=attempt + 1, before=before)))
        return render(TwimlResponse(self._destination(urls, language, None)))

    def transfer_ended(self, urls: CallbackUrls, *, language: Language, team: str | None, answered: bool) -> str:
        """After a transfer: goodbye when someone took the call, else voicemail."""
        if answered:
            return render(TwimlResponse([Hangup()]))
        return render(TwimlResponse(self._voicemail(urls, language, team, before=[self._say(language, "agents_busy")])))

    def voicemail_recorded(self, language: Language) -> str:
        return render(TwimlResponse([self._say(language, "thanks_goodbye"), Hangup()]))

    # -- pieces ----------------------------------------------------------------------------------

    def _language_menu(self, urls: CallbackUrls, language: Language, *, attempt: int, before: list[Say]) -> list[Verb]:
        options = [self._say(option, "language_option", digit=key) for key, option in self._ivr.language_menu.items()]
        action = urls.url(MENU, step=STEP_LANGUAGE, lang=language.value, attempt=attempt)
        return [Gather(action=action, prompts=[*before, *options], timeout_seconds=self._ivr.gather_timeout_seconds)]

    def _team_menu(
        self, urls: CallbackUrls, language: Language, *, attempt: int, before: list[Say] | None = None
    ) -> list[Verb]:
        if not self._ivr.team_menu:
            return [*(before or []), *self._destination(urls, language, None)]
        options = [
            self._say(language, "team_option", team=self._ivr.team_name(language, team), digit=key)
            for key, team in self._ivr.team_menu.items()
        ]
        action = urls.url(MENU, step=STEP_TEAM, lang=language.value, attempt=attempt)
        return [
            Gather(action=action, prompts=[*(before or []), *options], timeout_seconds=self._ivr.gather_timeout_seconds)
        ]

    def _destination(self, urls: CallbackUrls, language: Language, team: str | None) -> list[Verb]:
        transfer = self._ivr.destination(team).transfer
        if transfer is None:
            return self._voicemail(urls, language, team, before=[])
        verbs: list[Verb] = []
        if team is not None:
            verbs.append(self._say(language, "connecting", team=self._ivr.team_name(language, team)))
        action = urls.url(DIAL, lang=language.value, team=team)
        if transfer.queue is not None:
            verbs.append(Enqueue(queue=transfer.queue, action=action))
        else:
            verbs.append(
                Dial(
                    action=action,
                    number=transfer.number,
                    sip=transfer.sip,
                    timeout_seconds=transfer.timeout_seconds,
                    caller_id=transfer.caller_id,
                )
            )
        return verbs

    def _voicemail(self, urls: CallbackUrls, language: Language, team: str | None, *, before: list[Say]) -> list[Verb]:
        query = {"lang": language.value, "team": team}
        settings = self._ivr.voicemail
        return [
            *before,
            self._say(language, "voicemail_prompt"),
            Record(
                action=urls.url(RECORDED, **query),
                recording_status_callback=urls.url(RECORDING, **query),
                transcribe_callback=urls.url(TRANSCRIPTION, **query) if settings.transcribe else None,
                max_length_seconds=settings.max_length_seconds,
            ),
            # Reached only when nothing was recorded (silence): the call's end becomes a callback request.
            self._say(language, "no_message"),
            Hangup(),
        ]
