"""The IVR menu file: languages, teams, destinations and every prompt, validated when loaded.

Pure configuration and lookups, no I/O beyond reading the file. :mod:`voice_flow` turns it into
TwiML; :mod:`call_events` uses its texts for the events departments read.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.events.models import Language

KEYPAD = frozenset("0123456789*#")
DEFAULT_DESTINATION = "default"
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_]{1,48}$")

# Every text each language must have, and the placeholders each may use.
TEXT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "greeting": frozenset(),
    "language_option": frozenset({"digit"}),
    "team_option": frozenset({"team", "digit"}),
    "invalid_choice": frozenset(),
    "connecting": frozenset({"team"}),
    "agents_busy": frozenset(),
    "voicemail_prompt": frozenset(),
    "thanks_goodbye": frozenset(),
    "no_message": frozenset(),
    "voicemail_untranscribed": frozenset({"duration"}),
    "voicemail_transcription_failed": frozenset({"duration"}),
    "callback_request": frozenset({"reason"}),
    "team_chosen": frozenset({"team"}),
}
REASONS = ("abandoned", "busy", "no_answer", "failed", "no_message")


class IvrConfigError(ValueError):
    """The IVR file is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Voice(_Strict):
    """How <Say> speaks a language: Twilio's language code and, optionally, a voice."""

    language: str
    voice: str | None = None


class LanguagePrompts(_Strict):
    say: Voice
    teams: dict[str, str]
    texts: dict[str, str]
    reasons: dict[str, str]


class Transfer(_Strict):
    """Exactly one of number, sip or queue."""

    number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    sip: str | None = Field(default=None, pattern=r"^sips?:")
    queue: str | None = Field(default=None, min_length=1, max_length=64)
    timeout_seconds: int = Field(default=20, ge=5, le=600)
    caller_id: str | None = Field(default=None, description="Caller ID shown to the agent; the caller's by default.")

    @model_validator(mode="after")
    def _one_target(self) -> Transfer:
        if sum(x is not None for x in (self.number, self.sip, self.queue)) != 1:
            raise ValueError("a transfer names exactly one of number, sip or queue")
        return self


class Destination(_Strict):
    """A transfer, or (without one) voicemail."""

    transfer: Transfer | None = None


class VoicemailSettings(_Strict):
    max_length_seconds: int = Field(default=120, ge=5, le=3600)
    transcribe: bool = True


class NumberSettings(_Strict):
    language: Language


class IvrConfig(_Strict):
    """The whole IVR file."""

    version: Literal[1] = 1
    default_language: Language = Language.EN
    numbers: dict[str, NumberSettings] = Field(default_factory=dict)
    caller_countries: dict[str, Language] = Field(default_factory=dict)
    gather_timeout_seconds: int = Field(default=6, ge=1, le=60)
    attempts: int = Field(default=2, ge=1, le=5)
    language_menu: dict[str, Language] = Field(default_factory=dict)
    team_menu: dict[str, str] = Field(default_factory=dict)
    destinations: dict[str, Destination] = Field(default_factory=dict)
    voicemail: VoicemailSettings = Field(default_factory=VoicemailSettings)
    languages: dict[Language, LanguagePrompts]

    @model_validator(mode="after")
    def _consistent(self) -> IvrConfig:
        problems: list[str] = []
        if self.default_language not in self.languages:
            problems.append(f"default_language {self.default_language} has no prompts")
        for menu_name, menu in (("language_menu", self.language_menu), ("team_menu", self.team_menu)):
            for key in menu:
                if len(key) != 1 or key not in KEYPAD:
                    problems.append(f"{menu_name}: {key!r} is not one keypad key")
        for key, language in self.language_menu.items():
            if language not in self.languages:
                problems.append(f"language_menu {key}: {language} has no prompts")
        teams = set(self.team_menu.values())
        for team in teams:
            if not _DEPARTMENT.match(team):
                problems.append(f"team_menu: {team!r} is not a department name")
        for name in self.destinations:
            if name != DEFAULT_DESTINATION and name not in teams:
                problems.append(f"destinations: {name!r} is not a team of the team menu")
        for number, settings in self.numbers.items():
            if settings.language not in self.languages:
                problems.append(f"numbers {number}: {settings.language} has no prompts")
        for country, language in self.caller_countries.items():
            if language not in self.languages:
                problems.append(f"caller_countries {country}: {language} has no prompts")
        for language, prompts in self.languages.items():
            for key, allowed in TEXT_PLACEHOLDERS.items():
                text = prompts.texts.get(key)
                if text is None:
                    problems.append(f"{language}: text {key!r} missing")
                    continue
                used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
                if used - allowed:
                    problems.append(f"{language}.{key}: unknown placeholders {sorted(used - allowed)}")
            for team in teams:
                if team not in prompts.teams:
                    problems.append(f"{language}: no name for team {team!r}")
            for reason in REASONS:
                if reason not in prompts.reasons:
                    problems.append(f"{language}: reason {reason!r} missing")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- lookups -----------------------------------------------------------------------------

    def greeting_language(self, called: str | None, caller_country: str | None) -> Language:
        """The language to greet in before the caller has chosen."""
        if called and called in self.numbers:
            return self.numbers[called].language
        if caller_country and caller_country.upper() in self.caller_countries:
            return self.caller_countries[caller_country.upper()]
        return self.default_language

    def language(self, value: str | None) -> Language:
        """A language named in a callback URL, or the default when it is not one of ours."""
        for language in self.languages:
            if language.value == value:
                return language
        return self.default_language

    def team(self, value: str | None) -> str | None:
        """A team named in a callback URL, or None when it is not one of the menu's."""
        return value if value is not None and value in set(self.team_menu.values()) else None

    def destination(self, team: str | None) -> Destination:
        if team is not None and team in self.destinations:
            return self.destinations[team]
        return self.destinations.get(DEFAULT_DESTINATION, Destination())

    def text(self, language: Language, key: str, **values: object) -> str:
        return self.languages[language].texts[key].format(**values)

    def team_name(self, language: Language, team: str) -> str:
        return self.languages[language].teams.get(team, team.replace("_", " "))

    def reason(self, language: Language, reason: str) -> str:
        return self.languages[language].reasons.get(reason, reason.replace("_", " "))


def load_ivr_config(path: Path | None = None) -> IvrConfig:
    """Read and validate an IVR file; without a path, the packaged one."""
    try:
        if path is None:
            text = resources.files("switchboard_intake_phone.config").joinpath("ivr.yaml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return IvrConfig.model_validate(yaml.safe_load(text))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise IvrConfigError(f"invalid IVR file {path or '(packaged)'}: {exc}") from exc
