"""Suggestions on the case page with a real catalogue that mixes city-wide and district rules."""

from __future__ import annotations

from backoffice.suggest import Suggester
from storage.models import CatalogueEntry
from tests.support.builders import make_world


async def test_a_catalogue_with_city_wide_and_district_rules_gives_a_district_unit(database_url: str) -> None:
    world = await make_world()
    await CatalogueEntry.create(category="城乡建设", district=None, unit=world.lead)
    await CatalogueEntry.create(category="城乡建设", district="东湖区", unit=world.co)
    await CatalogueEntry.create(category="交通运输", district=None, unit=world.other)
    proposal = await Suggester().propose("东湖区湖滨街道幸福里小区楼道灯坏了，物业不修，小区道路也坑洼不平", "东湖区")
    building = [u["unit_code"] for u in proposal.units if u["category"] == "城乡建设"]
    assert proposal.categories[0]["category"] == "城乡建设"
    assert building[:2] == ["co", "lead"]  # the district's own unit (属地) before the city-wide bureau


async def test_the_category_staff_gave_the_case_chooses_the_unit_first(database_url: str) -> None:
    world = await make_world()
    await CatalogueEntry.create(category="城乡建设", district=None, unit=world.lead)
    await CatalogueEntry.create(category="交通运输", district=None, unit=world.other)
    text = "东湖区幸福里小区楼道灯坏了，物业不修"  # the classifier reads housing …
    assert (await Suggester().propose(text, "东湖区")).units[0]["unit_code"] == "lead"
    accepted = await Suggester().propose(text, "东湖区", "交通运输")  # … the dispatcher accepted it as transport
    assert accepted.units[0]["unit_code"] == "other" and accepted.categories[0]["category"] == "城乡建设"
