from dataclasses import dataclass

import pytest

from intents.gazetteer import Location
from intents.routing import Catalogue, CatalogueEntry, CatalogueError, suggest_units

DATA = {
    "units": [
        {"code": "zjj", "name_zh": "江澜市住房和城乡建设局"},
        {"code": "rsj", "name_zh": "江澜市人力资源和社会保障局"},
        {"code": "sthjj", "name_zh": "江澜市生态环境局"},
        {"code": "donghu", "name_zh": "东湖区人民政府"},
        {"code": "xishan", "name_zh": "西山区人民政府"},
    ],
    "catalogue": [
        {"category": "城乡建设", "district": None, "unit": "zjj"},
        {"category": "劳动和社会保障", "district": None, "unit": "rsj"},
        {"category": "环境保护", "district": None, "unit": "sthjj"},
        {"category": "城乡建设", "district": "东湖区", "unit": "donghu"},
        {"category": "城乡建设", "district": "西山区", "unit": "xishan"},
        {"category": "环境保护", "district": "东湖区", "unit": "donghu"},
    ],
}


@dataclass(frozen=True)
class Suggestion:
    category: str
    score: float
    evidence: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.from_dict(DATA)


def test_district_unit_beats_the_city_wide_one(catalogue):
    [first, second] = suggest_units([Suggestion("城乡建设", 0.8)], Location("东湖区", "湖滨街道"), catalogue)
    assert (first.unit_code, first.unit_name) == ("donghu", "东湖区人民政府")
    assert first.reason == "类别：城乡建设；属地：东湖区"
    assert first.score == pytest.approx(0.8)
    assert second.unit_code == "zjj" and second.score < first.score


def test_city_wide_when_the_district_has_no_unit(catalogue):
    [only] = suggest_units([Suggestion("劳动和社会保障", 0.9)], Location("东湖区", None), catalogue)
    assert only.unit_code == "rsj"
    assert only.reason.startswith("类别：劳动和社会保障；全市统一办理")


def test_unknown_district_prefers_the_city_unit_and_lists_district_units_as_guesses(catalogue):
    units = suggest_units([Suggestion("城乡建设", 1.0)], None, catalogue, limit=5)
    assert units[0].unit_code == "zjj"
    assert {u.unit_code for u in units[1:]} == {"donghu", "xishan"}
    assert all("属地待确认" in u.reason for u in units[1:])


def test_several_categories_ranked_and_deduplicated(catalogue):
    suggestions = [Suggestion("环境保护", 0.6), Suggestion("城乡建设", 0.3),
                   Suggestion("劳动和社会保障", 0.1)]
    units = suggest_units(suggestions, "东湖区", catalogue, limit=3)
    assert [u.unit_code for u in units] == ["donghu", "sthjj", "zjj"]
    assert units[0].category == "环境保护"  # the best reason for donghu is kept


def test_limit_and_zero_scores(catalogue):
    assert suggest_units([Suggestion("城乡建设", 0.0)], "东湖区", catalogue) == []
    assert len(suggest_units([Suggestion("城乡建设", 1.0)], None, catalogue, limit=1)) == 1


def test_unknown_category_and_parent_fallback(catalogue):
    assert suggest_units([Suggestion("外星人", 0.9)], "东湖区", catalogue) == []
    [first, *_] = suggest_units([Suggestion("城乡建设/物业管理", 1.0)], "西山区", catalogue)
    assert first.unit_code == "xishan"
    assert first.score == pytest.approx(0.9)
    assert "归入“城乡建设”" in first.reason


def test_from_entries_and_plain_list():
    catalogue = Catalogue([CatalogueEntry("治安", None, "gaj", "江澜市公安局")])
    assert suggest_units([Suggestion("治安", 0.7)], None, catalogue)[0].unit_name == "江澜市公安局"
    listed = Catalogue.from_dict([{"category": "治安", "district": "南港区", "unit_code": "ng",
                                   "unit_name": "南港区公安分局"}])
    assert listed.categories() == ["治安"]
    assert suggest_units([Suggestion("治安", 0.7)], "南港区", listed)[0].unit_code == "ng"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"catalogue": [{"category": "", "unit_code": "a", "unit_name": "A"}]}, "'category'"),
        ([{"category": "治安", "district": None, "unit_code": "a"}], "'unit_name' is missing"),
        ({"units": [{"code": "a"}], "catalogue": [{"category": "治安", "unit": "b"}]}, "unknown unit"),
        ({"units": [{"name": "A"}]}, r"units\[0\]"),
        ([{"category": "治安", "district": "", "unit_code": "a", "unit_name": "A"}], "bad district"),
        ([{"category": "治安", "unit_code": "a", "unit_name": "A"}] * 2, "entry 1: duplicate"),
        (["治安"], "entry 0 must be an object"),
    ],
)
def test_bad_catalogue_names_the_entry(data, message):
    with pytest.raises(CatalogueError, match=message):
        Catalogue.from_dict(data)
