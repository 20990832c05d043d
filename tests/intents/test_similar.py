from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from intents.similar import SimilarIndex, _place_scores, build_synthetic_index, normalize, shingles, synthetic_appeals

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

CASES = [
    ("A1", "湖光社区3号楼楼下的烧烤店每天晚上油烟很大，噪音吵得睡不着", "东湖区", "湖滨街道", 2),
    ("A2", "樱花大道的路灯坏了一个多月，晚上看不清路", "东湖区", "樱花街道", 5),
    ("A3", "公司拖欠工资三个月，老板一直不给", "西山区", "枫林街道", 10),
    ("A4", "枫林湾小区门口垃圾堆积，臭味熏天", "西山区", "枫林街道", 40),
    ("A5", "港口路有渣土车乱停，堵塞消防通道", "南港区", "港口街道", 1),
]


@pytest.fixture
def index() -> SimilarIndex:
    idx = SimilarIndex()
    for case_id, text, district, street, days_ago in CASES:
        idx.add(case_id, text, district, street, NOW - timedelta(days=days_ago))
    return idx


def test_finds_a_paraphrase(index):
    [best, *_] = index.query("楼下烧烤摊晚上油烟太大，还很吵，睡不着觉", district="东湖区", street="湖滨街道")
    assert best.case_id == "A1"
    assert best.score > 0.5
    assert any(r.startswith("同一街道") for r in best.reasons)
    assert any("烧烤" in r for r in best.reasons)


def test_ignores_an_unrelated_text(index):
    assert index.query("我想咨询一下办理居住证需要什么材料") == []


def test_time_window_filters(index):
    text = "枫林湾小区门口垃圾堆积，很臭"
    assert index.query(text)[0].case_id == "A4"
    assert all(m.case_id != "A4" for m in index.query(text, since=NOW - timedelta(days=30)))
    assert index.query(text, until=NOW - timedelta(days=35))[0].case_id == "A4"


def test_place_agreement_boosts_and_other_district_lowers(index):
    text = "樱花大道路灯坏了，晚上很黑"
    plain = index.query(text)[0]
    same = index.query(text, district="东湖区", street="樱花街道")[0]
    other = index.query(text, district="南港区")
    assert plain.case_id == same.case_id == "A2"
    assert same.score > plain.score
    assert not other or other[0].score < plain.score
    assert not other or any(r.startswith("不同区") for r in other[0].reasons)


def test_remove_and_exclude(index):
    text = "港口路渣土车乱停堵了消防通道"
    assert index.query(text)[0].case_id == "A5"
    assert all(m.case_id != "A5" for m in index.query(text, exclude={"A5"}))
    assert index.remove("A5") and not index.remove("A5")
    assert "A5" not in index and len(index) == 4
    assert index.query(text) == []


def test_replacing_a_case_updates_its_text(index):
    index.add("A2", "西山路井盖缺失", "西山区", "西山街道", NOW)
    assert len(index) == 5
    assert index.query("西山路的井盖不见了")[0].case_id == "A2"
    assert all(m.case_id != "A2" for m in index.query("樱花大道的路灯坏了一个多月"))


def test_naive_datetime_and_missing_id_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimilarIndex().add("X", "文本", created_at=datetime(2026, 11, 26))
    with pytest.raises(ValueError, match="case_id"):
        SimilarIndex().add(None, "文本", created_at=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        SimilarIndex().query("文本", since=datetime(2026, 11, 1))


def test_empty_index_and_empty_query(index):
    assert SimilarIndex().query("任何文本") == []
    assert index.query("，。！") == []


def test_normalisation_ignores_width_punctuation_and_invisible_characters():
    assert normalize("ＡＢ\u200b，路灯") == "ab 路灯"
    assert shingles("ab 路灯") == {"ab", "路灯"}
    assert shingles("灯") == {"灯"}


def test_compaction_after_many_removals():
    idx = SimilarIndex()
    for i in range(2500):
        idx.add(i, f"第{i}号楼电梯坏了{i % 7}天", None, None, NOW)
    for i in range(2000):
        idx.remove(i)
    assert len(idx) == 500
    assert len(idx._ids) < 2500  # compacted
    assert idx.query("第2400号楼电梯坏了")[0].case_id == 2400


def test_scale_sanity_with_synthetic_cases():
    idx = build_synthetic_index(5000, now=NOW)
    assert len(idx) == 5000
    case_id, text, district, street = synthetic_appeals(5000)[1234]
    matches = idx.query(text, district=district, street=street)
    assert matches[0].case_id == case_id
    assert matches[0].score > 0.95
    assert len(matches) == 5
    window = idx.query(text, since=NOW - timedelta(days=7))
    assert all(idx._ts.data[idx._slot_of[m.case_id]] >= (NOW - timedelta(days=7)).timestamp() for m in window)


def test_the_best_few_are_those_of_a_full_rescoring():
    """Only candidates that can still reach the best ``limit`` are fully rescored: the same best few."""
    idx = build_synthetic_index(3000, now=NOW)
    for _, text, district, street in synthetic_appeals(3000)[::150]:
        query = text[:-3] + "，请尽快处理"
        for place in ((district, street), (None, None)):
            full = idx.query(query, *place, limit=1000)
            for limit in (1, 3):
                assert idx.query(query, *place, limit=limit) == full[:limit]
    assert idx.query("电梯坏了", limit=0) == []


def place_rule(case_district, case_street, district, street) -> float:  # noqa: ANN001
    """The place part of the score, one case at a time: the rule the index applies to many at once."""
    if street and case_street and street == case_street:
        score = 0.1
    elif district and case_district and district == case_district:
        score = 0.05
    else:
        score = 0.0
    return score - 0.2 if district and case_district and district != case_district else score


def test_the_place_part_of_the_score_is_the_same_for_many_cases_at_once() -> None:
    index = SimilarIndex()
    now = datetime.now(UTC)
    places = [(d, s) for d in ("东湖区", "西山区", "", None) for s in ("幸福街道", "人民路街道", None)]
    for i, (district, street) in enumerate(places):
        index.add(i, f"路灯不亮第{i}号", district, street, now)
    slots = np.arange(len(places))
    for district in ("东湖区", "西山区", "南港区", "", None):  # 南港区: a district no case has
        for street in ("幸福街道", "矿山街道", "", None):
            many = _place_scores(*index._agreement(slots, district, street))
            assert many.tolist() == [place_rule(*places[s], district, street) for s in slots], (district, street)
