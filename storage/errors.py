"""Errors a caller can show to a person: each carries a message key and zh-CN/en text."""

from __future__ import annotations

from .labels import field_label, refusal_text


class CaseError(Exception):
    """A state change that was refused; nothing was written."""

    status_code = 400
    key = "invalid"

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def message(self, language: str = "zh-CN") -> str:
        """Return the polite explanation in the user's language."""
        return refusal_text(self.key, language, **self.params)


class CaseNotFound(CaseError):
    """No such case, or the actor may not see it (the two look the same from outside)."""

    status_code = 404

    def __init__(self) -> None:
        super().__init__("status")

    def message(self, language: str = "zh-CN") -> str:
        """Return the polite explanation in the user's language."""
        return "Case not found." if language == "en" else "未找到该诉求。"


class NotAllowed(CaseError):
    """The transition table refuses this action for this actor on this case now."""

    status_code = 409


class Conflict(CaseError):
    """Someone else changed the case since the caller read it."""

    status_code = 409

    def __init__(self) -> None:
        super().__init__("conflict")


class MissingFields(CaseError):
    """Required fields of the action are missing."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__("missing")
        self.fields = fields

    def message(self, language: str = "zh-CN") -> str:
        """Return the polite explanation in the user's language."""
        sep = ", " if language == "en" else "、"
        names = sep.join(field_label(f, language) for f in self.fields)
        return refusal_text("missing", language, fields=names)


class InvalidField(CaseError):
    """A field holds a value the action cannot use."""

    def __init__(self, field: str, detail_zh: str, detail_en: str) -> None:
        super().__init__("invalid")
        self.field = field
        self.detail_zh = detail_zh
        self.detail_en = detail_en

    def message(self, language: str = "zh-CN") -> str:
        """Return the polite explanation in the user's language."""
        detail = self.detail_en if language == "en" else self.detail_zh
        return refusal_text("invalid", language, field=field_label(self.field, language), detail=detail)
