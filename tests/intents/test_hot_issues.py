"""Hot issues: paraphrases of one problem in one place form one topic; floods, likes and places do not."""

from __future__ import annotations

import csv
import itertools
import json
import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from intents.hot_cli import main
from intents.hot_issues import HotConfig, Message, cluster, describe, detect, hot_index, parse_time, split_places

T0 = datetime(2019, 8, 1, 9, 0)
BARBECUE = [
    "幸福里小区楼下烧烤店油烟噪音扰民",
    "幸福里小区一楼烧烤摊每晚吵到凌晨，油烟很大",
    "幸福里小区底商烧烤店深夜噪音和油烟扰民",
    "幸福里小区烧烤店油烟直排，噪音扰民严重",
    "幸福里小区楼下烧烤夜宵店太吵，油烟熏人",
    "东湖区幸福里小区烧烤店油烟噪音问题",
]
BUS_STOP = [
    "枫林路公交站台顶棚损坏无人维修",
    "枫林路公交站台破损，下雨没法候车",
    "枫林路公交站候车亭顶棚坏了很久",
    "枫林路公交站台损坏请尽快维修",
]
SAME_PLACE_OTHER_PROBLEMS = ["幸福里小区路灯不亮", "幸福里小区电梯经常故障", "幸福里小区垃圾清运不及时",
                             "幸福里小区停车位不足"]
PLACES = ["翠微社区", "红旗社区", "学府路", "湖滨路", "石桥镇", "南湖花园小区", "港口路", "科技路", "金沙社区",
          "河口村", "书香社区", "新城大道", "环湖西路", "海员社区", "樱花大道"]
PROBLEMS = ["下水道堵塞", "孩子入学难", "医保报销慢", "工资被拖欠", "井盖丢失", "自来水发黄", "共享单车乱停",
            "广告牌松动", "小摊占道经营", "绿化带被毁"]


def msg(i: int, title: str, user: str, days: float = 0, likes: int = 0, dislikes: int = 0) -> Message:
    return Message(i, title, f"{title}，希望有关部门尽快处理。", T0 + timedelta(days=days), user, likes, dislikes)


def background(start: int = 1000) -> list[Message]:
    """One message for each of many place × problem pairs: nothing hot among them."""
    rng = random.Random(3)
    pairs = list(itertools.product(PLACES, PROBLEMS))
    rng.shuffle(pairs)
    return [msg(start + i, f"{p}{q}", f"bg{i}", days=rng.uniform(0, 60)) for i, (p, q) in enumerate(pairs[:120])]


def corpus() -> list[Message]:
    out = [msg(i, t, f"u{i}", days=50 + i) for i, t in enumerate(BARBECUE)]
    out += [msg(100 + i, t, f"v{i}", days=10 + 3 * i) for i, t in enumerate(BUS_STOP)]
    out += [msg(200 + i, t, f"w{i}", days=30) for i, t in enumerate(SAME_PLACE_OTHER_PROBLEMS)]
    return out + background()


def labels_by_id(messages: list[Message]) -> dict[object, int]:
    return {m.id: int(label) for m, label in zip(messages, cluster(messages), strict=True)}


def test_paraphrases_in_one_place_form_one_topic_and_unrelated_stay_apart() -> None:
    messages = corpus()
    labels = labels_by_id(messages)
    barbecue = {labels[i] for i in range(len(BARBECUE))}
    bus = {labels[100 + i] for i in range(len(BUS_STOP))}
    assert len(barbecue) == 1 and len(bus) == 1
    assert barbecue != bus
    others = {labels[200 + i] for i in range(len(SAME_PLACE_OTHER_PROBLEMS))}
    assert not others & barbecue, "the same estate with another problem is another matter"
    assert len(others) == len(SAME_PLACE_OTHER_PROBLEMS)


def test_detect_ranks_the_topics_with_readable_labels() -> None:
    topics = detect(corpus(), top=5)
    assert [t.size for t in topics[:2]] == [6, 4]
    first = topics[0]
    assert first.citizens == 6
    assert "烧烤" in first.label and any("幸福里" in p for p in first.places)
    assert set(first.message_ids) == set(range(len(BARBECUE)))
    assert "枫林路" in topics[1].label
    assert all(t.citizens >= 3 for t in topics)
    assert len(topics[0].examples) == 3


def test_one_authors_flood_counts_once() -> None:
    flood = [msg(500 + i, "红叶社区广场舞音响太吵扰民", "loud", days=40) for i in range(50)]
    flood += [msg(560, "红叶社区广场舞音响噪音太吵", "x1", days=41)]
    topics = detect(corpus() + flood, top=10)
    assert all(500 not in t.message_ids for t in topics), "one person and one helper are not a hot issue"
    more = flood + [msg(561 + i, "红叶社区广场舞音响太吵了", f"y{i}", days=42) for i in range(2)]
    topic = next(t for t in detect(corpus() + more, top=10) if 500 in t.message_ids)
    assert topic.size == 53 and topic.citizens == 4
    assert topic.hot_index < detect(corpus(), top=1)[0].hot_index * 1.2


def test_one_message_with_many_likes_is_not_a_hot_issue() -> None:
    liked = [msg(700, "石桥老街古井被填埋", "fan", days=59, likes=5000)]
    assert all(700 not in t.message_ids for t in detect(corpus() + liked, top=10))


def test_a_cluster_held_together_only_by_a_place_name_is_rejected() -> None:
    messages = [msg(i, t, f"p{i}", days=i) for i, t in enumerate(SAME_PLACE_OTHER_PROBLEMS)]
    assert describe(messages, range(len(messages)), T0 + timedelta(days=10), background=Counter(), total=1) is None
    same = [msg(i, t, f"p{i}", days=i) for i, t in enumerate(BARBECUE)]
    topic = describe(same, range(len(same)), T0 + timedelta(days=10), Counter(), 1)
    assert topic is not None and any("烧烤" in k for k in topic.keywords)


def test_hot_index_weighs_citizens_support_and_time() -> None:
    base = hot_index(5, [0] * 5, 0, 1.0, 1.0)
    assert hot_index(10, [0] * 10, 0, 1.0, 1.0) > base
    assert hot_index(5, [10] * 5, 0, 1.0, 1.0) > base
    assert hot_index(5, [10] * 5, 50, 1.0, 1.0) < hot_index(5, [10] * 5, 0, 1.0, 1.0)
    assert hot_index(5, [0] * 5, 0, 0.1, 1.0) < base
    # Likes are damped: 10,000 likes on one message do not outweigh twice the citizens.
    assert hot_index(3, [10_000, 0, 0], 0, 1.0, 1.0) < hot_index(12, [0] * 12, 0, 1.0, 1.0)


def test_growth_recency_and_concentration() -> None:
    late = [msg(i, t, f"u{i}", days=55 + i * 0.5) for i, t in enumerate(BARBECUE)]
    topic = describe(late, range(len(late)), T0 + timedelta(days=60), Counter(), 1,
                     HotConfig())
    assert topic is not None
    assert topic.growth == pytest.approx(7.0)  # six in the last 30 days, none before: (6+1)/(0+1)
    assert topic.concentration == 1.0
    assert 0.8 < topic.recency <= 1.0


def test_empty_and_tiny_inputs() -> None:
    assert detect([]) == []
    assert list(cluster([msg(1, "", "a")])) == [0]
    assert detect([msg(1, "路灯不亮", "a"), msg(2, "路灯不亮", "b")]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019/8/19 11:34:04", datetime(2019, 8, 19, 11, 34, 4)),
        ("2017-06-08 17:31", datetime(2017, 6, 8, 17, 31)),
        ("2019年2月3日", datetime(2019, 2, 3)),
        ("yesterday", None),
        ("2019/13/40", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_split_places_takes_the_place_out_of_the_problem() -> None:
    places, problem = split_places("幸福里小区楼下烧烤店油烟扰民")
    assert places == "幸福里小区"
    assert "幸福里" not in problem and "烧烤" in problem


# --- the hot-issues command -----------------------------------------------------------------------

def write_csv(path: Path, messages: list[Message]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["title", "body", "time", "user", "likes", "dislikes"])
        for m in messages:
            writer.writerow([m.title, m.body, m.time.strftime("%Y/%m/%d %H:%M:%S") if m.time else "", m.user,
                             m.likes, m.dislikes])
    return path


def test_cli_prints_the_top_topics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "m.csv", corpus())
    assert main(["hot-issues", "--csv", str(path), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert " 1. " in out and " 2. " in out and " 3. " not in out
    assert "烧烤" in out and "6 条 messages · 6 人 citizens" in out
    assert "- 幸福里小区" in out


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "m.csv", corpus())
    assert main(["hot-issues", "--csv", str(path), "--json"]) == 0
    topics = json.loads(capsys.readouterr().out)
    assert topics[0]["size"] == 6 and topics[0]["citizens"] == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", "empty CSV"),
        ("time,user\n2019/1/1,a\n", "'title' or 'body'"),
        ("title,body\n路灯,坏了\n", "'time'"),
        ("title,time,likes\n路灯坏了,2019/1/1,many\n", "likes 'many' is not a number"),
        ("title,time\n,2019/1/1\n", "no rows with text"),
    ],
)
def test_cli_refuses_bad_csv_politely(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                                      message: str) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["hot-issues", "--csv", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_non_utf8_and_bad_top(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("title,time\n路灯坏了,2019/1/1\n".encode("gbk"))
    assert main(["hot-issues", "--csv", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["hot-issues", "--csv", str(path), "--top", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_rows_are_scaled_as_scikit_learn_did_so_ties_between_keys_break_the_same_way() -> None:
    """Each row's entries keep their order (ties among a message's heaviest bigrams break by it) and values."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from intents.hot_issues import _unit_rows

    cols = [5, 1, 3, 2, 0, 4]  # unsorted within rows 0 and 2, as a product of matrices leaves them
    x = sp.csr_matrix((np.array([2, 2, 1, 3, 4, 0.5], dtype=np.float32), np.array(cols), np.array([0, 3, 3, 5, 6])),
                      shape=(4, 6))
    ours, theirs = _unit_rows(x), normalize(x)
    assert ours.indices.tolist() == theirs.indices.tolist() == cols
    assert ours.dtype == np.float32 and np.allclose(ours.data, theirs.data, rtol=1e-6)
    assert np.allclose(ours.toarray()[2], [0.8, 0, 0.6, 0, 0, 0]) and not ours.toarray()[1].any()
    assert x.data.tolist() == [2, 2, 1, 3, 4, 0.5]  # the input is left as it was
