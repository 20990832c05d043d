"""Telegram wire format ↔ Inbound/Outbound: commands, buttons, location, contact, long texts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ..messages import Inbound, Outbound
from ..texts import t

CHANNEL = "telegram"
MAX_TEXT = 4096  # Telegram's limit for one message's text
MAX_CALLBACK = 64  # bytes of callback_data Telegram keeps
LONG = "~"  # callback_data of a longer choice: this, then a digest of it (see ``callback_data``)
COMMANDS = {"/start": "cmd:menu", "/menu": "cmd:menu", "/help": "cmd:help", "/cancel": "cmd:cancel",
            "/my": "go:query:"}
_DEEP_LINK = re.compile(r"case_(?P<number>[0-9-]{6,40})(?:_(?P<code>[0-9A-Za-z]{10}))?")

Markup = dict[str, Any] | None  # a Bot API reply_markup object (InlineKeyboardMarkup, ReplyKeyboardMarkup)


@dataclass(frozen=True)
class Chunk:
    """One Bot API sendMessage: text and its keyboard."""

    text: str
    markup: Markup

    def params(self, chat_id: int | str) -> dict[str, Any]:
        """Return the sendMessage parameters of this chunk."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": self.text}
        if self.markup is not None:
            params["reply_markup"] = self.markup
        return params

    def method(self, chat_id: int | str) -> dict[str, Any]:
        """Return this chunk as a sendMessage method to answer a webhook call with (Telegram carries it out)."""
        return {"method": "sendMessage", **self.params(chat_id)}


def _command(text: str) -> tuple[str, str]:
    word, _, rest = text.strip().partition(" ")
    return word.split("@", 1)[0].lower(), rest.strip()


def chat_of(update: dict[str, Any]) -> dict[str, Any] | None:
    """Return the chat object an update (a message or a button press, as JSON) belongs to."""
    message = update.get("message")
    if message is None and isinstance(update.get("callback_query"), dict):
        message = update["callback_query"].get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    return chat if isinstance(chat, dict) and isinstance(chat.get("id"), int) else None


ATTACHED = ("voice", "audio", "video", "video_note", "sticker", "animation", "document")  # besides photos


def picture_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """Return the file of a message's picture: its largest photo size, or an image sent as a file."""
    if message.get("photo"):
        return message["photo"][-1]
    document = message.get("document")
    if isinstance(document, dict) and str(document.get("mime_type") or "").startswith("image/"):
        return document
    return None


def unsupported(message: dict[str, Any]) -> bool:
    """Tell whether a message holds only what the dialog cannot take (a voice message, a sticker, a video…)."""
    return not (message.get("text") or message.get("caption")) and any(message.get(kind) for kind in ATTACHED)


def inbound_from_message(message: dict[str, Any], key: str) -> list[Inbound]:
    """Translate a citizen's message (Bot API JSON) into the Inbounds the engine handles, in order."""
    user = str(message["chat"]["id"])
    location = message.get("location")
    if location is not None:
        return [Inbound(CHANNEL, user, location=(float(location["latitude"]), float(location["longitude"])), key=key)]
    contact = message.get("contact")
    if contact is not None:
        sender = (message.get("from") or {}).get("id")
        own = contact.get("user_id") in (None, sender)
        phone = str(contact.get("phone_number") or "")
        return [Inbound(CHANNEL, user, contact=phone if own else None, text="" if own else phone, key=key)]
    text = message.get("text") or message.get("caption") or ""
    if text.startswith("/"):
        word, argument = _command(text)
        link = _DEEP_LINK.fullmatch(argument) if word == "/start" else None
        if link is not None:  # a tracking link: start over, then ask about that case
            steps = [Inbound(CHANNEL, user, choice="cmd:menu", key=f"{key}:menu"),
                     Inbound(CHANNEL, user, text=link["number"], key=f"{key}:number" if link["code"] else key)]
            if link["code"]:
                steps.append(Inbound(CHANNEL, user, text=link["code"], key=key))
            return steps
        if word in COMMANDS:
            return [Inbound(CHANNEL, user, choice=COMMANDS[word], key=key)]
    return [Inbound(CHANNEL, user, text=text, key=key)]


_STEPS = {"menu": 0, "number": 1, "": 2}  # a deep link's steps, in the order inbound_from_message gives them


def key_order(key: str) -> tuple[int, int] | None:
    """Rank a message key ``tg<update_id>[:<step>]`` in arrival order (update_ids grow per bot); None if foreign."""
    head, _, step = key.partition(":")
    if not head.startswith("tg") or not head[2:].isdigit() or step not in _STEPS:
        return None
    return int(head[2:]), _STEPS[step]


def inbound_from_tap(chat_id: int, data: str, key: str) -> Inbound:
    """Translate an inline-button press into a choice."""
    return Inbound(CHANNEL, str(chat_id), choice=data[:200], key=key)


def _fitting(text: str, limit: int) -> int:
    """Return how many characters of ``text`` fit in ``limit`` UTF-16 code units (Telegram's measure)."""
    if len(text) <= limit and text.isascii() or len(text.encode("utf-16-le")) <= 2 * limit:
        return len(text)
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1  # an emoji beyond the BMP is two units
        if units > limit:
            return index
    return len(text)


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-16 code units, at line breaks where possible."""
    pieces: list[str] = []
    while (room := _fitting(text, limit)) < len(text):
        cut = text.rfind("\n", 0, room)
        if cut < room // 2:
            cut = text.rfind(" ", 0, room)
        if cut < room // 2:
            cut = room
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces


def callback_data(value: str) -> str:
    """Return a button's callback_data: the choice itself, or a token for one longer than Telegram keeps."""
    if len(value.encode()) <= MAX_CALLBACK:
        return value
    return LONG + hashlib.sha256(value.encode()).hexdigest()[:32]


def long_choices(replies: list[Outbound]) -> dict[str, str]:
    """Return the tokens of the replies' choices too long for callback_data, with the choices they stand for."""
    return {callback_data(c.value): c.value for o in replies for c in o.choices if len(c.value.encode()) > MAX_CALLBACK}


def _markup(outbound: Outbound, language: str) -> Markup:
    if outbound.choices:
        rows = [[{"text": c.label[:64], "callback_data": callback_data(c.value)}] for c in outbound.choices]
        return {"inline_keyboard": rows}
    if outbound.expect == "location":
        button = {"text": t("telegram.location", language), "request_location": True}
    elif outbound.expect == "phone":
        button = {"text": t("telegram.contact", language), "request_contact": True}
    else:
        return None
    return {"keyboard": [[button]], "resize_keyboard": True, "one_time_keyboard": True}


def merged(replies: list[Outbound]) -> list[Outbound]:
    """Join a reply's plain messages into the message after them: one chat bubble (and one request) where the
    dialog says something and then asks; a message with buttons or a location/phone key stays on its own."""
    out: list[Outbound] = []
    for outbound in replies:
        if out and _plain(out[-1]):
            before = out.pop()
            outbound = Outbound(f"{before.text}\n\n{outbound.text}", outbound.choices, outbound.expect)
        out.append(outbound)
    return out


def _plain(outbound: Outbound) -> bool:
    return not outbound.choices and outbound.expect not in ("location", "phone")


def chunks(outbound: Outbound, language: str) -> list[Chunk]:
    """Translate one Outbound into sendMessage calls; the keyboard goes with the last piece."""
    pieces = split(outbound.text or " ")
    return [Chunk(p, None) for p in pieces[:-1]] + [Chunk(pieces[-1], _markup(outbound, language))]
