"""Classifier: learns a toy set, round-trips through its file, ranks with evidence; metrics by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from intents import classifier, evaluation
from intents.classifier import Params, Record, Suggestion

TOY = {
    "劳动和社会保障": ["社保缴费基数怎么算", "养老保险断缴了怎么办", "公司拖欠工资不发", "失业保险金如何领取",
                 "工伤认定需要什么材料", "退休工资调整什么时候发放"],
    "教育文体": ["学校乱收补课费", "孩子入学学位不够", "幼儿园收费太高", "老师体罚学生",
             "小学划片入学不合理", "中学教辅资料强制购买"],
    "交通运输": ["公交车司机开车玩手机", "出租车拒载绕路", "公交线路太少等车太久", "货车超载上路",
             "网约车乱收费", "地铁站没有公交接驳"],
}
SMALL = Params(word_bits=12, char_bits=13)


def toy_records() -> list[Record]:
    return [Record(t, "", label) for label, titles in TOY.items() for t in titles]


@pytest.fixture(scope="module")
def model() -> classifier.Model:
    return classifier.train(toy_records(), params=SMALL)


def test_learns_toy_set(model: classifier.Model) -> None:
    assert model.predict_many(["我的社保断缴了", "学校收补课费", "公交车太少"]) == [
        "劳动和社会保障", "教育文体", "交通运输"]


def test_suggest_ranks_probabilities_with_evidence(model: classifier.Model) -> None:
    out = model.suggest("单位拖欠工资，社保也没交", limit=3)
    assert [type(s) for s in out] == [Suggestion] * 3
    assert out[0].category == "劳动和社会保障"
    assert out[0].score >= out[1].score >= out[2].score
    assert sum(s.score for s in out) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= s.score <= 1.0 for s in out)
    assert any("工资" in e or "社保" in e for e in out[0].evidence)
    assert len(model.suggest("公交车", limit=1)) == 1


def test_progress_reports_stages() -> None:
    seen: list[tuple[str, float]] = []
    classifier.train(toy_records(), params=SMALL, progress=lambda s, f: seen.append((s, f)))
    assert ("fit", 1.0) in seen and any(s == "features" for s, _ in seen)


def test_save_load_round_trip(model: classifier.Model, tmp_path) -> None:
    path = model.save(tmp_path / "m.npz")
    again = classifier.load(path)
    texts = ["社保怎么交", "学校收费", "出租车绕路", ""]
    assert again.labels == model.labels and again.params == model.params
    assert again.predict_many(texts) == model.predict_many(texts)
    assert np.allclose(again.predict_proba_many(texts), model.predict_proba_many(texts), atol=0.02)
    assert classifier.load(path) is again  # cached while unchanged


def test_buckets_match_the_feature_matrix() -> None:
    featurizer = classifier._Featurizer(SMALL)
    for feature in ("社保", "a", "交通运输"):
        assert classifier.bucket(feature, SMALL.word_bits) == featurizer.words([("", feature)]).indices[0]
    chars = featurizer.chars([("", "社保卡"), ("ab", "")])
    assert chars[0].nnz == 6 and chars[0].sum() == 6  # 社 保 卡 社保 保卡 社保卡
    expected = {classifier.char_bucket(g, SMALL.char_bits) for g in ("社", "保", "卡", "社保", "保卡", "社保卡")}
    assert set(chars[0].indices) == expected
    title = {classifier.char_bucket(g, SMALL.char_bits, title=t) for g in ("a", "b", "ab") for t in (False, True)}
    assert set(chars[1].indices) == title and chars[1].sum() == 3 * SMALL.title_repeat + 3


def test_word_hashing_is_scikit_learns_so_earlier_model_files_still_fit() -> None:
    """The word columns equal FeatureHasher's (the hasher the shipped model was trained with), counts included."""
    from sklearn.feature_extraction import FeatureHasher

    params = Params()
    pairs = [("公交车司机开车玩手机", "今天早上坐车看到司机一直玩手机，太危险了"), ("", "学校乱收补课费 补课费"),
             ("", ""), ("😀", "社保" * 80), ("ab cd", "工资 工资 工资")]
    pairs = [(classifier.normalize(t), classifier.normalize(b)) for t, b in pairs]
    ours = classifier._Featurizer(params).words(pairs)
    hasher = FeatureHasher(1 << params.word_bits, input_type="string", alternate_sign=False)
    theirs = hasher.transform(classifier.word_features(t, b, params) for t, b in pairs).tocsr()
    assert ours.nnz > 20 and (ours != theirs).nnz == 0


def test_a_loaded_model_needs_no_scikit_learn_and_keeps_int8_weights(model: classifier.Model, tmp_path) -> None:
    """A server that loads the model and scores with it never imports scikit-learn (≈ 70 MB per process)."""
    path = model.save(tmp_path / "m.npz")
    code = ("import sys; from intents import classifier; m = classifier.read_model(sys.argv[1]); "
            "m.suggest('公交车司机开车玩手机'); m.predict_many(['学校收费', '出租车绕路']); "
            "print(m._q_t.dtype, m._q_t.nbytes, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(classifier.__file__).parent.parent).stdout.split()
    one_byte_each = len(model.labels) * ((1 << model.params.word_bits) + (1 << model.params.char_bits))
    assert out == ["int8", str(one_byte_each), "False"]


def test_one_message_scores_as_in_a_batch(model: classifier.Model) -> None:
    """The dialog scores one message at a time without scipy: same scores as the batch product."""
    texts = ["公交车司机开车玩手机\n今天早上坐车看到司机一直玩手机，太危险了", "学校乱收补课费",
             "社保" * 600, "", "😀😀 ", "工资 工资 工资"]
    batch = model.decision(texts)
    for row, text in zip(batch, texts, strict=True):
        assert np.allclose(model.decision([text])[0], row, atol=1e-5)
    assert model.suggest("学校乱收补课费")[0].category == "教育文体"


def test_split_text_takes_short_first_line_as_title() -> None:
    assert classifier.split_text("标题\n正文内容") == ("标题", "正文内容")
    assert classifier.split_text("只有一行") == ("", "只有一行")
    assert classifier.split_text("你好 我想问社保") == ("", "你好 我想问社保")
    long_body = "正文" * 40
    assert classifier.split_text(f"标题 {long_body}") == ("标题", long_body)


def test_train_needs_two_labels() -> None:
    with pytest.raises(ValueError):
        classifier.train([Record("a", "", "x")], params=SMALL)


def test_metrics_match_hand_computation() -> None:
    truth = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    # a: tp2 fp0 fn1 -> p1 r2/3 f0.8; b: tp1 fp1 fn1 -> .5 .5 .5; c: tp1 fp1 fn0 -> p.5 r1 f2/3
    scores = evaluation.per_label(truth, pred)
    assert scores["a"] == evaluation.LabelScores(1.0, 2 / 3, 0.8, 3)
    assert scores["b"].f1 == pytest.approx(0.5) and scores["c"].f1 == pytest.approx(2 / 3)
    assert evaluation.accuracy(truth, pred) == pytest.approx(4 / 6)
    assert evaluation.macro_f1(truth, pred) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    ranked = [["b", "a"], ["a"], ["b", "c", "a"], ["b"], ["c", "a", "b"], ["c"]]
    assert evaluation.top_k_accuracy(truth, ranked, 1) == pytest.approx(3 / 6)
    assert evaluation.top_k_accuracy(truth, ranked, 3) == pytest.approx(6 / 6)
    rep = evaluation.report(truth, [[p] for p in pred])
    assert rep["n"] == 6 and rep["per_label"]["c"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}


def test_metrics_reject_length_mismatch() -> None:
    with pytest.raises(ValueError):
        evaluation.accuracy(["a"], [])


def test_shipped_model_classifies_an_obvious_message() -> None:
    if not classifier.DEFAULT_MODEL_PATH.exists():
        pytest.fail(f"shipped model missing: {classifier.DEFAULT_MODEL_PATH}")
    model = classifier.load()
    top = model.suggest("我的社保断缴了三个月，养老保险怎么补缴？")[0]
    assert top.category == "劳动和社会保障" and top.score > 0.5


def test_intercept_scale_stops_a_big_label_swamping_a_small_one(tmp_path) -> None:
    big = ["道路破损坑洼不平", "小区违章搭建", "路灯不亮影响出行", "物业不作为", "下水道堵塞污水外溢", "拆迁补偿不合理",
           "小区停车位被占", "楼道杂物堆放", "自来水停水", "燃气管道老化", "电梯经常故障", "房屋漏水无人维修"]
    small = ["医院收费不合理", "疫苗接种预约难", "药店卖假药"]
    records = ([Record(t, "", "城乡建设") for t in big * 4] + [Record(t, "", "卫生计生") for t in small]
               + toy_records()[-6:])  # + 交通运输: three labels, one-vs-rest intercepts
    kept = classifier.train(records, params=Params(word_bits=12, char_bits=13, intercept_scale=1.0))
    half = classifier.train(records, params=Params(word_bits=12, char_bits=13, intercept_scale=0.5))
    dropped = classifier.train(records, params=SMALL)
    assert SMALL.intercept_scale == Params().intercept_scale == 0.0  # the default drops them
    # Same fit (up to liblinear's random order); only the stored intercepts differ. Kept, the 48-row label's
    # prior outweighs a small label's words.
    assert np.allclose(kept.coef, dropped.coef, atol=1e-3) and np.allclose(kept.coef, half.coef, atol=1e-3)
    assert np.allclose(half.intercept, kept.intercept / 2, atol=1e-3) and not dropped.intercept.any()
    big_i, small_i = kept.labels.index("城乡建设"), kept.labels.index("卫生计生")
    assert kept.intercept[big_i] > 0 > kept.intercept[small_i]
    assert kept.predict_many(["医药费", "买药难"]) == ["城乡建设"] * 2
    assert dropped.predict_many(["医药费", "买药难"]) == ["卫生计生"] * 2
    # The scale is applied at training: the file format is unchanged and a saved model keeps its own scale.
    again = classifier.read_model(kept.save(tmp_path / "kept.npz"))
    assert again.params.intercept_scale == 1.0 and np.allclose(again.intercept, kept.intercept)
