"""JSON text of the hot paths: orjson's output, and the standard library's for what orjson refuses."""

from __future__ import annotations

import json

from storage import jsontext


def test_characters_are_kept_and_refused_values_still_written() -> None:
    assert jsontext.dumps({"text": "路灯不亮 😀"}) == '{"text":"路灯不亮 😀"}'
    big = {"n": 2**70}  # beyond orjson's 64 bits
    assert json.loads(jsontext.dumps(big)) == big and json.loads(jsontext.dumps_bytes(big)) == big
    assert jsontext.dumps({1: "x"}) == '{"1":"x"}'  # a non-string key, as the standard library writes it
    lone = {"text": "a\ud800b"}  # a lone surrogate: escaped, so a UTF-8 column can store it
    text = jsontext.dumps(lone)
    assert text.isascii() and json.loads(text) == lone and json.loads(jsontext.dumps_bytes(lone)) == lone


def test_copy_is_deep_and_keeps_big_integers() -> None:
    slots = {"photos": [1, 2], "suggested": [{"category": "城乡建设", "score": 0.5}], "n": 2**70}
    copied = jsontext.copy(slots)
    copied["suggested"][0]["score"] = 1.0
    copied["photos"].append(3)
    assert slots["suggested"][0]["score"] == 0.5 and slots["photos"] == [1, 2]
    assert copied["n"] == 2**70 and isinstance(copied["n"], int)
    assert jsontext.copy({"a": [1, {"b": None}]}) == {"a": [1, {"b": None}]}
