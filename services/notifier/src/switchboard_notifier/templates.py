"""Acknowledgement templates per language, rendered without I/O.

The templates file (``config/templates.yaml`` by default) holds, per language, texts with named
placeholders, and the labels they use (department names, topic phrases, durations). Every template is
test-rendered when the file is loaded, so a typo in a placeholder is an error at startup, not a
broken message to a customer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.events.models import CaseStatus, Channel, Language, MessageTopic

PLACEHOLDERS = frozenset(
    {
        "greeting",
        "customer_name",
        "case_reference",
        "department_name",
        "topic_phrase",
        "response_time",
        "expected_time",
    }
)
REQUIRED_TEXTS = ("greeting", "greeting_anonymous", "ack", "generic_ack")
# Texts of department updates, replies and satisfaction requests: required in the default language,
# which every other language falls back to.
UPDATE_TEXTS = (
    *(f"update_{status.value}" for status in CaseStatus),
    "update_accepted_expected",
    "reply",
    "survey_text",
    "survey_buttons",
    "survey_links",
    "survey_thanks",
    "survey_choose",
    *(f"rating_{score}" for score in range(1, 6)),
    "datetime_format",
)
# Texts that are not templates with placeholders (a strftime format).
NOT_FORMATTED = frozenset({"datetime_format"})


class TemplateError(ValueError):
    """The templates file is invalid."""


class Durations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: str
    hour: str
    hours: str
    day: str
    days: str


class LanguageTemplates(BaseModel):
    """All texts and labels of one language."""

    model_config = ConfigDict(extra="forbid")

    texts: dict[str, str]
    durations: Durations
    topics: dict[MessageTopic, str] = Field(default_factory=dict)
    departments: dict[str, str] = Field(default_factory=dict)
    channels: dict[Channel, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_texts(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        sections = {"durations", "topics", "departments", "channels", "texts"}
        texts = dict(value.get("texts", {}))
        texts.update({k: v for k, v in value.items() if k not in sections})
        return {k: v for k, v in value.items() if k in sections} | {"texts": texts}


class TemplatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_language: Language = Language.EN
    languages: dict[Language, LanguageTemplates]


@dataclass(frozen=True, slots=True)
class AckContent:
    """What an acknowledgement says; rendered into the customer's language."""

    case_reference: str
    department: str | None
    topic: MessageTopic | None
    response_time: timedelta
    customer_name: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateContent:
    """What a department's update or reply says; rendered into the customer's language."""

    case_reference: str
    department: str | None
    customer_name: str | None = None
    expected_at: datetime | None = None
    message: str | None = None


def _fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class AckTemplates:
    """Loaded, validated templates."""

    def __init__(self, document: TemplatesFile, zone: tzinfo = UTC) -> None:
        self._doc = document
        self._zone = zone
        if document.default_language not in document.languages:
            raise TemplateError(f"default language {document.default_language} has no templates")
        for language, templates in document.languages.items():
            missing = [key for key in REQUIRED_TEXTS if key not in templates.texts]
            if missing:
                raise TemplateError(f"{language}: missing texts {missing}")
            variants = [templates.texts, *templates.channels.values()]
            for texts in variants:
                for key, text in texts.items():
                    if key in NOT_FORMATTED:
                        continue
                    unknown = _fields_of(text) - PLACEHOLDERS - {"n"}
                    if unknown:
                        raise TemplateError(f"{language}.{key}: unknown placeholders {sorted(unknown)}")

        default = document.languages[document.default_language].texts
        missing = [key for key in UPDATE_TEXTS if key not in default]
        if missing:
            raise TemplateError(f"{document.default_language}: missing texts {missing}")

    @classmethod
    def load(cls, path: Path | None = None, zone: tzinfo = UTC) -> AckTemplates:
        """The templates file (the packaged one when ``path`` is None); times are shown in ``zone``."""
        try:
            if path is None:
                text = resources.files("switchboard_notifier.config").joinpath("templates.yaml").read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            return cls(TemplatesFile.model_validate(yaml.safe_load(text)), zone)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise TemplateError(f"invalid templates {path or '(packaged)'}: {exc}") from exc

    @property
    def languages(self) -> frozenset[Language]:
        return frozenset(self._doc.languages)

    def pick_language(
        self, *candidates: Language | None, otherwise: Callable[[], Language | None] | None = None
    ) -> Language:
        """The first candidate that has templates, else what ``otherwise`` gives (asked only then: a guess from
        the text costs more than the rest) if it has templates, else the default language."""
        languages = self._doc.languages
        for candidate in candidates:
            if candidate is not None and candidate in languages:
                return candidate
        if otherwise is not None:
            guessed = otherwise()
            if guessed is not None and guessed in languages:
                return guessed
        return self._doc.default_language

    def text(self, language: Language, key: str, channel: Channel | None = None) -> str:
        templates = self._doc.languages[language]
        if channel is not None and key in templates.channels.get(channel, {}):
            return templates.channels[channel][key]
        if key not in templates.texts:
            default = self._doc.languages[self._doc.default_language]
            if key in default.texts:
                return default.texts[key]
            raise TemplateError(f"no template {key!r} in {language} or the default language")
        return templates.texts[key]

    def has(self, key: str, language: Language, channel: Channel | None = None) -> bool:
        """Whether ``key`` exists for the language (or the default language), for the channel or in general."""
        for lang in (language, self._doc.default_language):
            templates = self._doc.languages[lang]
            if key in templates.texts or (channel is not None and key in templates.channels.get(channel, {})):
                return True
        return False

    def response_time(self, language: Language, duration: timedelta) -> str:
        labels = self._doc.languages[language].durations
        minutes = max(1, round(duration.total_seconds() / 60))
        if minutes < 60:
            return labels.minutes.format(n=minutes)
        hours = round(minutes / 60)
        if hours < 72:
            return labels.hour if hours == 1 else labels.hours.format(n=hours)
        days = round(hours / 24)
        return labels.day if days == 1 else labels.days.format(n=days)

    def department_name(self, language: Language, department: str | None) -> str:
        labels = self._doc.languages[language].departments
        if department is None:
            return ""
        return labels.get(department, department.replace("_", " ").title())

    def render(self, key: str, language: Language, content: AckContent, channel: Channel | None = None) -> str:
        """Render text ``key`` (``ack``, ``generic_ack``, ...) for ``content`` in ``language``."""
        templates = self._doc.languages[language]
        values = {
            "case_reference": content.case_reference,
            "department_name": self.department_name(language, content.department),
            "topic_phrase": templates.topics.get(content.topic, "") if content.topic else "",
            "response_time": self.response_time(language, content.response_time),
            "expected_time": "",
        }
        return self._fill(key, language, channel, content.customer_name, values)

    def render_update(
        self, key: str, language: Language, content: UpdateContent, channel: Channel | None = None
    ) -> str:
        """Render an update, reply or survey text ``key``; the department's own message follows it verbatim
        (its line breaks kept), after a blank line."""
        values = {
            "case_reference": content.case_reference,
            "department_name": self.department_name(language, content.department),
            "topic_phrase": "",
            "response_time": "",
            "expected_time": self.expected_time(language, content.expected_at),
        }
        text = self._fill(key, language, channel, content.customer_name, values)
        message = (content.message or "").strip()
        return f"{text}\n\n{message}" if message else text

    def rating_labels(self, language: Language, channel: Channel | None = None) -> list[str]:
        """The five scores' labels, 1 to 5."""
        return [self.text(language, f"rating_{score}", channel) for score in range(1, 6)]

    def expected_time(self, language: Language, when: datetime | None) -> str:
        if when is None:
            return ""
        return when.astimezone(self._zone).strftime(self.text(language, "datetime_format"))

    def _fill(
        self, key: str, language: Language, channel: Channel | None, customer_name: str | None, values: dict[str, str]
    ) -> str:
        name = (customer_name or "").strip()
        greeting_key = "greeting" if name else "greeting_anonymous"
        values = {**values, "customer_name": name}
        values["greeting"] = self.text(language, greeting_key, channel).format_map(values)
        return tidy(self.text(language, key, channel).format_map(values))


_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[.,!?;:])")


def tidy(text: str) -> str:
    """Collapse the line breaks YAML folding leaves and the space an empty placeholder leaves before
    punctuation; no spaces between Chinese characters."""
    collapsed = _SPACE_BEFORE_PUNCTUATION.sub("", " ".join(text.split()))
    return _SPACE_BETWEEN_CJK.sub("", collapsed)
