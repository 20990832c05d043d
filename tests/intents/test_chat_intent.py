import pytest

from intents.chat_intent import IntentLexicon, classify, scores
from intents.lexicons import LexiconError


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我要投诉", "submit"),
        ("我要举报", "submit"),
        ("我的诉求办得怎么样了", "query"),
        ("查询进度", "query"),
        ("8890-20261126-00042", "query"),
        ("单号8890-20261126-00042", "query"),
        ("我要评价", "evaluate"),
        ("非常满意", "evaluate"),
        ("怎么用", "help"),
        ("帮助", "help"),
        ("你好", "greeting"),
        ("在吗？", "greeting"),
        ("Hi", "greeting"),
        ("小区门口的路灯已经坏了一个多月了，晚上出行很不方便", "submit"),
        ("你好，我家楼下的烧烤店每天晚上噪音很大", "submit"),
        ("你好，我想查一下上周反映的停水问题处理得怎么样了", "query"),
        ("嗯", "unknown"),
        ("", "unknown"),
    ],
)
def test_intents(text, intent):
    assert classify(text).intent == intent


def test_explicit_keyword_is_confident_and_result_unpacks():
    intent, confidence = classify("我要投诉")
    assert intent == "submit" and confidence > 0.9
    assert classify("嗯").confidence == 0.0


def test_long_description_without_keyword_is_a_less_sure_submission():
    described = classify("小区门口的路灯已经坏了一个多月了晚上出行很不方便老人经常摔跤")
    assert described.intent == "submit"
    assert 0.5 < described.confidence < classify("我要投诉").confidence


def test_negated_keyword_does_not_count():
    assert classify("不投诉了").intent == "unknown"


def test_latin_keyword_must_stand_alone():
    assert scores("this is a thing")["greeting"] == 0
    assert scores("hi there")["greeting"] > 0


def test_obfuscated_spacing():
    assert classify("查 询 进 度").intent == "query"


def test_bad_lexicon(tmp_path):
    path = tmp_path / "intents.txt"
    path.write_text("[complain]\n投诉 3\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown intent"):
        IntentLexicon.load(path)
    path.write_text("[submit]\n投诉 lots\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="投诉 lots"):
        IntentLexicon.load(path)
    path.write_text("[submit]\n投诉\n[query]\n投诉 2\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="listed twice"):
        IntentLexicon.load(path)


def test_custom_lexicon(tmp_path):
    path = tmp_path / "intents.txt"
    path.write_text("[help]\n救命啊 5\n", encoding="utf-8")
    assert classify("救命啊", IntentLexicon.load(path)).intent == "help"
