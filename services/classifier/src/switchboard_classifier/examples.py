"""Labelled examples: the JSON-lines format that training and evaluation read.

One example per line: ``{"text": ..., "type": ..., "topic": ..., "priority": ..., "anger": ...,
"language": ...}``. Only ``text`` is required; any subset of the labels may be given, and a label that
is absent is neither trained nor evaluated. ``type`` ``non_actionable`` means "not a customer
request" (spam, auto-replies, no request at all, questions that are not for customer service).
Unknown keys are an error, so that a misspelt label is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard_common.events.models import Language, MessageTopic, MessageType, Priority


class ExampleError(ValueError):
    """A labelled file cannot be read; the message names the file and line."""


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    type: MessageType | None = None
    topic: MessageTopic | None = None
    priority: Priority | None = None
    anger: bool | None = None
    language: Language | None = None
    id: str | int | None = Field(default=None, description="Optional, for the reader's reference.")


@dataclass(frozen=True, slots=True)
class Example:
    """A text and what is known about it. ``request`` is False for messages that are no customer request."""

    text: str
    type: MessageType | None = None
    topic: MessageTopic | None = None
    priority: Priority | None = None
    anger: bool | None = None
    request: bool | None = None
    language: Language | None = None
    source: str = ""

    @classmethod
    def labelled(
        cls,
        text: str,
        *,
        type: MessageType | None = None,
        topic: MessageTopic | None = None,
        priority: Priority | None = None,
        anger: bool | None = None,
        request: bool | None = None,
        language: Language | None = None,
        source: str = "",
    ) -> Example:
        """An example whose non-actionable type implies "no request", topic other and priority low."""
        if type is MessageType.NON_ACTIONABLE:
            request = False
            topic = topic or MessageTopic.OTHER
            priority = priority or Priority.LOW
        elif type is not None:
            request = True
        return cls(text, type, topic, priority, anger, request, language, source)


def parse_examples(lines: Iterable[bytes | str], source: str) -> Iterator[Example]:
    """The examples of JSON lines; :class:`ExampleError` names the first bad line."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            line = _Line.model_validate(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise ExampleError(f"{source}:{number}: not valid JSON: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())
            raise ExampleError(f"{source}:{number}: {problems}") from None
        yield Example.labelled(
            line.text,
            type=line.type,
            topic=line.topic,
            priority=line.priority,
            anger=line.anger,
            language=line.language,
            source=source,
        )


def read_examples(path: Path) -> list[Example]:
    """Every example of a JSON-lines file."""
    try:
        with Path(path).open("rb") as handle:
            return list(parse_examples(handle, str(path)))
    except OSError as exc:
        raise ExampleError(f"cannot read {path}: {exc}") from exc


def read_example_files(paths: Iterable[Path]) -> list[Example]:
    """The examples of several files, in the order given."""
    return [example for path in paths for example in read_examples(path)]
