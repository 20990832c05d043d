import re

import pytest

from intents.lexicons import LexiconError
from intents.urgency import UrgencyLexicon, abuse, assess, squeeze


@pytest.mark.parametrize(
    ("text", "kind", "hotline"),
    [
        ("楼下着火了，快来人", "fire", "119"),
        ("仓库起火了", "fire", "119"),
        ("隔壁发生火灾", "fire", "119"),
        ("配电箱冒烟了", "fire", "119"),
        ("楼道里燃气泄漏", "gas", "119"),
        ("家里一股煤气味", "gas", "119"),
        ("地下车库淹水了", "flood", "119"),
        ("小区内涝，人被困", "flood", "119"),
        ("水漫进了一楼", "flood", "119"),
        ("有老人摔倒受伤了", "injury", "120"),
        ("头上一直在流血", "injury", "120"),
        ("有人昏迷在路边", "injury", "120"),
        ("路口发生车祸", "injury", "120"),
        ("我真的想死", "self_harm", "110"),
        ("他说要自杀", "self_harm", "110"),
        ("有人站在楼顶要跳楼", "self_harm", "110"),
        ("邻居有轻生的念头", "self_harm", "110"),
        ("小区门口有人持刀打人", "violence", "110"),
        ("她被丈夫家暴", "violence", "110"),
    ],
)
def test_each_emergency_kind(text, kind, hotline):
    result = assess(text)
    assert result.level == "emergency"
    assert kind in result.kinds
    assert result.hotline == hotline
    assert result.matched


@pytest.mark.parametrize("text", ["不是火灾，是有人在烧烤", "没有受伤，只是车被刮了", "并非燃气泄漏",
                                  "幸好没有人流血", "不想死，只想解决问题"])
def test_negation_cancels(text):
    result = assess(text)
    assert result.level == "normal"
    assert result.negated


def test_negation_only_reaches_its_own_clause():
    result = assess("没有人管，现在着火了")
    assert result.level == "emergency" and result.kinds == ("fire",)
    assert assess("不小心着火了").level == "emergency"


def test_negated_and_real_kinds_together():
    result = assess("没有着火，但是有人受伤了")
    assert (result.level, result.kinds, result.hotline) == ("emergency", ("injury",), "120")
    assert result.negated == ("着火",)


def test_hazard_is_urgent_not_emergency():
    result = assess("消防通道被堵，存在火灾隐患")
    assert (result.level, result.kinds, result.hotline) == ("urgent", ("fire",), None)
    assert assess("万一着火怎么办").level == "urgent"


@pytest.mark.parametrize(
    "text", ["着 火 了", "着\u200b火了", "燃 气 泄 漏", "自\u200c杀", "着*火", "ｆｉｒｅ着火"]
)
def test_obfuscation_is_seen_through(text):
    assert assess(text).level == "emergency"


def test_priority_chooses_the_hotline():
    result = assess("楼下着火了，有人受伤")
    assert result.kinds == ("fire", "injury")
    assert result.hotline == "119"


def test_urgent_and_normal():
    assert assess("烧烤店冒烟，油烟很大") == assess("烧烤店冒烟，油烟很大")
    assert assess("烧烤店冒烟，油烟很大").level == "urgent"
    assert assess("已经停水三天了").kinds == ("utility",)
    assert assess("路灯坏了一个多月").level == "normal"
    assert assess("跳楼价大甩卖，门口喇叭吵死了").level == "normal"
    assert assess("").level == "normal"


def test_abuse():
    assert abuse("你们这些狗官").matched == ("狗官",)
    assert abuse("傻 逼").is_abusive
    assert abuse("傻\u200b逼").is_abusive
    assert abuse("你是 S B 吧").matched == ("sb",)
    assert not abuse("我的usb接口坏了").is_abusive
    assert not abuse("废物回收站噪音扰民").is_abusive
    assert not abuse("路灯坏了，请尽快修").is_abusive


def test_the_one_scan_shortcut_never_changes_an_answer():
    lexicon = UrgencyLexicon.load()
    full = UrgencyLexicon.load()  # the same lists, with patterns that let every text through to the word loop
    object.__setattr__(full, "term_pattern", re.compile(""))
    object.__setattr__(full, "abuse_pattern", re.compile(""))
    texts = ["楼下着火了，快来人", "不是火灾，是有人在烧烤", "消防通道被堵，存在火灾隐患", "路灯坏了一个多月", "",
             "跳楼价大甩卖，门口喇叭吵死了", "着\u200b火了", "你们这些狗官", "我的usb接口坏了", "傻 逼", "你好",
             "已经停水三天了", "西山区人民路夜间施工噪音很大，请尽快处理"]
    for text in texts:
        assert assess(text, lexicon) == assess(text, full), text
        assert abuse(text, lexicon) == abuse(text, full), text
    assert sum(lexicon.term_pattern.search(squeeze(t)) is None for t in texts) >= 3  # the shortcut is taken


def test_squeeze_keeps_clause_boundaries():
    assert squeeze("着 火，\n没*有") == "着火,。没有"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("emergency", "message"),
    [
        ("着火\n", "before any"),
        ("[fire emergency]\n着火\n", "needs a hotline"),
        ("[fire emergency 999]\n着火\n", "unknown hotline '999'"),
        ("[fire sometimes 119]\n着火\n", "must be"),
        ("[fire emergency 119]\n着火 起火\n", "'着火 起火'"),
        ("[fire emergency 119]\n着火\n[gas emergency 119]\n着火\n", "'着火' is in both"),
        ("[fire emergency 119\n着火\n", "bad section header"),
    ],
)
def test_bad_lexicon_names_the_entry(tmp_path, emergency, message):
    cues = _write(tmp_path, "cues.txt", "[negation]\n没有\n[not_negation]\n不小心\n[hypothetical]\n隐患\n")
    bad = _write(tmp_path, "emergency.txt", emergency)
    with pytest.raises(LexiconError, match=message):
        UrgencyLexicon.load(bad, cues, _write(tmp_path, "abuse.txt", "狗官\n"))


def test_custom_lexicon(tmp_path):
    lexicon = UrgencyLexicon.load(
        _write(tmp_path, "e.txt", "# test\n[quake emergency 119]\n地震  # trailing comment\n"),
        _write(tmp_path, "c.txt", "[negation]\n没有\n[not_negation]\n不小心\n[hypothetical]\n演练\n"),
        _write(tmp_path, "a.txt", "坏蛋\n"),
    )
    assert assess("地震了", lexicon).kinds == ("quake",)
    assert assess("着火了", lexicon).level == "normal"
    assert abuse("坏蛋", lexicon).is_abusive


def test_missing_cue_section_is_reported(tmp_path):
    with pytest.raises(LexiconError, match="missing sections"):
        UrgencyLexicon.load(_write(tmp_path, "e.txt", "[fire emergency 119]\n着火\n"),
                            _write(tmp_path, "c.txt", "[negation]\n没有\n"), _write(tmp_path, "a.txt", ""))
