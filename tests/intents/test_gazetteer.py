import pytest

from intents.gazetteer import Gazetteer, GazetteerError, Location, Place

CITY = {
    "city": "江澜市",
    "districts": [
        {"name": "东湖区", "streets": [
            {"name": "湖滨街道", "roads": ["湖滨路"], "communities": ["湖光社区"], "landmarks": ["东湖公园"]},
            {"name": "东风街道", "roads": ["东风路"]},
            {"name": "樱花街道", "roads": ["樱花大道"], "communities": ["樱园社区"]},
        ]},
        {"name": "西山区", "streets": [
            {"name": "西山街道", "roads": ["翠微路"]},
            {"name": "枫林街道", "communities": ["枫林湾社区"]},
            {"name": "石桥镇", "roads": ["石桥老街"]},
        ]},
        {"name": "南港区", "aliases": ["南港新区"], "streets": [
            {"name": "港口街道", "roads": ["人民路"]},
            {"name": "南湖街道"},
            {"name": "新城街道", "roads": ["人民路"]},
        ]},
    ],
}


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.from_dict(CITY)


def test_full_names(gaz):
    loc = gaz.resolve("东湖区湖滨街道湖滨路有个大坑")
    assert (loc.district, loc.street, loc.score, loc.conflict) == ("东湖区", "湖滨街道", 1.0, False)


@pytest.mark.parametrize(
    ("text", "district", "street"),
    [
        ("东湖那边路灯不亮", "东湖区", None),
        ("樱花街那边有人占道", "东湖区", "樱花街道"),
        ("石桥老街垃圾没人收", "西山区", "石桥镇"),
        ("枫林湾社区停水", "西山区", "枫林街道"),
        ("南港新区噪音", "南港区", None),
        ("港口街道人民路", "南港区", "港口街道"),
    ],
)
def test_short_forms_aliases_and_implied_district(gaz, text, district, street):
    loc = gaz.resolve(text)
    assert (loc.district, loc.street) == (district, street)


def test_one_wrong_character_is_tolerated(gaz):
    loc = gaz.resolve("湖滨街到的路灯坏了")
    assert (loc.district, loc.street) == ("东湖区", "湖滨街道")
    loc = gaz.resolve("英花大道上全是积水")  # road 樱花大道, typo in the name itself
    assert (loc.district, loc.street, loc.matched) == ("东湖区", "樱花街道", ("樱花大道",))
    assert 0 < loc.score < 0.9
    assert gaz.resolve("胡滨街道").street == "湖滨街道"


def test_exact_beats_fuzzy(gaz):
    exact = gaz.resolve("樱花大道")
    fuzzy = gaz.resolve("英花大道")
    assert exact.score > fuzzy.score
    # 东风街道 is one character away from 东湖街道, but the exact short form 东湖 wins.
    assert gaz.resolve("东湖街道").street is None


def test_street_backs_one_of_two_districts(gaz):
    loc = gaz.resolve("我住西山区，投诉的是湖滨街道的事")
    assert (loc.district, loc.street, loc.conflict) == ("东湖区", "湖滨街道", True)
    assert loc.score < 1.0


def test_two_districts_with_equal_evidence_are_not_guessed(gaz):
    loc = gaz.resolve("从西山区搬到东湖区以后")
    assert (loc.district, loc.street, loc.conflict) == (None, None, True)
    assert set(loc.matched) == {"西山区", "东湖区"}


def test_shared_road_name_needs_the_street(gaz):
    assert gaz.resolve("新城街道人民路").street == "新城街道"
    loc = gaz.resolve("人民路上井盖丢了")
    assert (loc.district, loc.street) == ("南港区", None)


def test_nothing_found(gaz):
    assert gaz.resolve("今天天气不错") == Location(None, None)
    assert gaz.resolve("") == Location(None, None)


def test_longest_exact_match_wins(gaz):
    loc = gaz.resolve("东湖公园门口")
    assert loc.matched == ("东湖公园",)
    assert loc.street == "湖滨街道"


def test_from_places_and_words():
    gaz = Gazetteer.from_places([
        Place("东湖区", "district"),
        Place("湖滨街道", "street", "东湖区"),
        Place("湖光社区", "community", "东湖区", "湖滨街道", aliases=("湖光小区",)),
    ])
    assert gaz.resolve("湖光小区").street == "湖滨街道"
    assert {"东湖区", "东湖", "湖滨街道", "湖滨街", "湖光小区"} <= set(gaz.words())


def test_flat_places_data():
    gaz = Gazetteer.from_dict({"places": [
        {"name": "西山区", "kind": "district"},
        {"name": "西山街道", "kind": "street", "district": "西山区"},
    ]})
    assert gaz.resolve("西山街道").district == "西山区"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"places": [{"name": "X路", "kind": "river", "district": "东湖区"}]}, "unknown kind"),
        ({"places": [{"name": "东湖区", "kind": "district"}, {"name": "A路", "kind": "road"}]}, "A路"),
        ({"places": [{"name": "东湖区", "kind": "district"},
                     {"name": "A路", "kind": "road", "district": "北区"}]}, "unknown district"),
        ({"districts": [{"streets": []}]}, "districts[0]"),
        ({"districts": [{"name": "东湖区", "streets": [{"name": ""}]}]}, "districts[0].streets[0]"),
        ({}, "no places"),
    ],
)
def test_bad_data_names_the_entry(data, message):
    with pytest.raises(GazetteerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Gazetteer.from_dict(data)


def test_demo_city_is_shipped():
    gaz = Gazetteer.demo()
    assert gaz.city == "江澜市"
    districts = {p.name for p in gaz.places if p.kind == "district"}
    streets = {p.name: p.district for p in gaz.places if p.kind == "street"}
    assert districts == {"东湖区", "西山区", "南港区"}
    assert streets == {
        "湖滨街道": "东湖区", "东风街道": "东湖区", "樱花街道": "东湖区",
        "西山街道": "西山区", "枫林街道": "西山区", "石桥镇": "西山区",
        "港口街道": "南港区", "南湖街道": "南港区", "新城街道": "南港区",
    }
    for street in streets:
        kids = [p for p in gaz.places if p.street == street and p.kind in ("road", "community")]
        assert len(kids) >= 2, street


def test_districts_and_streets_implied_by_lower_places():
    gaz = Gazetteer.from_dict({"places": [
        {"name": "湖滨路", "kind": "road", "district": "东湖区", "street": "湖滨街道"},
        {"name": "幸福里小区", "kind": "community", "district": "东湖区", "street": "湖滨街道",
         "aliases": ["幸福里"]},
    ]})
    assert {p.name for p in gaz.places} == {"湖滨路", "幸福里小区", "东湖区", "湖滨街道"}
    assert gaz.resolve("湖滨街道").district == "东湖区"
    assert gaz.resolve("东湖区有个问题").district == "东湖区"
    assert gaz.resolve("幸福里").street == "湖滨街道"


# --- reverse geocoding: a map pin to its district ---------------------------------------------------

SQUARES = {"districts": [
    {"name": "东湖区", "area": {"bbox": [113.0, 28.0, 113.1, 28.1]}},
    {"name": "西山区", "area": {"polygon": [[112.9, 28.0], [113.0, 28.0], [113.0, 28.1], [112.9, 28.1]],
                                "centre": [112.95, 28.05]}},
    {"name": "南港区"},
]}


@pytest.mark.parametrize(("lat", "lon", "district"), [
    (28.28, 113.03, "东湖区"),   # the demo city: inside each outline
    (28.25, 112.87, "西山区"),
    (28.12, 113.00, "南港区"),
    (28.333, 113.00, "东湖区"),  # 300 m north of the city's edge: GPS error, still 东湖区
    (28.40, 113.00, None),      # 8 km north: outside the city
    (39.90, 116.40, None),      # Beijing
    (0.0, 0.0, None),
    (float("nan"), 113.0, None),
    (91.0, 113.0, None),
])
def test_demo_map_pins_resolve_to_their_district(lat, lon, district):
    assert Gazetteer.demo().district_at(lat, lon) == district


def test_outlines_from_bbox_or_polygon_with_given_or_computed_centres():
    gaz = Gazetteer.from_dict(SQUARES)
    assert gaz.district_at(28.05, 113.05) == "东湖区" and gaz.district_at(28.05, 112.95) == "西山区"
    assert gaz.district_at(28.05, 112.85) is None  # 9.8 km west of 西山区
    assert gaz.district_at(28.05, 112.897) == "西山区"  # 300 m west of its edge
    centres = {a.district: a.centre for a in gaz.areas}
    assert centres["东湖区"] == pytest.approx((113.05, 28.05)) and centres["西山区"] == (112.95, 28.05)
    assert gaz.bounds() == (112.9, 28.0, 113.1, 28.1)
    assert Gazetteer.from_dict(CITY).district_at(28.28, 113.03) is None  # no outlines: no guess
    assert Gazetteer.from_dict(CITY).bounds() is None


def test_demo_outlines_cover_every_district_and_do_not_overlap():
    gaz = Gazetteer.demo()
    assert {a.district for a in gaz.areas} == {p.name for p in gaz.places if p.kind == "district"}
    for area in gaz.areas:
        lon, lat = area.centre
        assert area.contains(lon, lat), area.district
        assert [a.district for a in gaz.areas if a.contains(lon, lat)] == [area.district]


@pytest.mark.parametrize(("area", "message"), [
    ({"polygon": [[113.0, 28.0], [113.1, 28.0]]}, "at least 3 corners"),
    ({"polygon": [[113.0, 28.0], [113.1, "北"], [113.1, 28.1]]}, "districts[0].area.polygon[1]"),
    ({"polygon": [[213.0, 28.0], [113.1, 28.0], [113.1, 28.1]]}, "out of range"),
    ({"bbox": [113.1, 28.0, 113.0, 28.1]}, "[west, south, east, north]"),
    ({"centre": [113.0, 28.0]}, "needs a 'polygon' or a 'bbox'"),
    ([1, 2, 3], "must be an object"),
])
def test_bad_outlines_name_the_entry(area, message):
    with pytest.raises(GazetteerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Gazetteer.from_dict({"districts": [{"name": "东湖区", "area": area}]})


def test_one_gazetteer_per_file_whatever_the_path_spelling(tmp_path, monkeypatch) -> None:
    from intents.gazetteer import DEMO_PATH, load

    assert load() is load(None) is load(DEMO_PATH) is load(str(DEMO_PATH)) is Gazetteer.demo()
    monkeypatch.chdir(DEMO_PATH.parent)
    assert load(DEMO_PATH.name) is load()  # a relative path names the same file


def test_the_demo_gazetteer_knows_every_place_of_the_demo_city() -> None:
    """The chat resolves what the demo city's units cover (幸福里小区东门 → 东湖区 湖滨街道), aliases included."""
    import json
    from pathlib import Path

    places = json.loads((Path(__file__).parents[2] / "storage" / "demo" / "city.json").read_text("utf-8"))["places"]
    demo = Gazetteer.demo()
    for place in places:
        for name in (place["name"], *(a for a in place["aliases"] if len(a) > 2)):  # "老街" alone names no place
            found = demo.resolve(f"{name}门口")
            assert (found.district, found.street) == (place["district"], place["street"]), name
