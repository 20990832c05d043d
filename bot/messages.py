"""Normalized messages: all the dialog engine ever sees of a channel."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Choice:
    """A button: the value sent back and the label shown."""

    value: str
    label: str


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, translated from a channel's wire format."""

    channel: str
    user_key: str
    text: str = ""
    choice: str | None = None
    location: tuple[float, float] | None = None
    attachments: tuple[int, ...] = ()
    contact: str | None = None
    key: str | None = None  # the channel's id of this message, for dedupe of redeliveries
    resume: bool = False  # a (re)connect: show where the conversation stands, change nothing


@dataclass(frozen=True)
class Outbound:
    """One message to a citizen: text (always shown as text), buttons, and what input is expected."""

    text: str
    choices: tuple[Choice, ...] = field(default_factory=tuple)
    expect: str = "text"

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "text": self.text,
            "choices": [{"value": c.value, "label": c.label} for c in self.choices],
            "expect": self.expect,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Outbound:
        """Build from the dict ``to_json`` returned."""
        choices = tuple(Choice(str(c["value"]), str(c["label"])) for c in data.get("choices", ()))  # type: ignore[union-attr]
        return cls(str(data.get("text", "")), choices, str(data.get("expect", "text")))
