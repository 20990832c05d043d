"""Composition root: the city's gazetteer (APPEALS_GAZETTEER_PATH) reaches every part that resolves places."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backoffice import maps
from backoffice.app import create_app
from backoffice.suggest import Suggester
from bot.channels import open311
from bot.runtime import build
from intents.gazetteer import load
from storage.cases import CaseService
from storage.settings import Settings, SettingsError

CITY = {"city": "北岸市", "districts": [
    {"name": "北岸区", "area": {"polygon": [[120.0, 30.0], [120.2, 30.0], [120.2, 30.2], [120.0, 30.2]]},
     "streets": [{"name": "滨海街道", "roads": ["滨海路"], "communities": ["渔港社区"]}]},
    {"name": "南湾区", "streets": [{"name": "南湾街道", "roads": ["南湾大道"]}]},
]}


def test_a_missing_gazetteer_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="APPEALS_GAZETTEER_PATH"):
        Settings.from_env({"APPEALS_GAZETTEER_PATH": str(tmp_path / "nowhere.json")})


def test_the_citys_gazetteer_is_used_by_the_bot_open311_and_the_back_office(tmp_path: Path) -> None:
    path = tmp_path / "city.json"
    path.write_text(json.dumps(CITY, ensure_ascii=False), encoding="utf-8")
    settings = Settings.from_env({"APPEALS_GAZETTEER_PATH": str(path), "APPEALS_DATA_DIR": str(tmp_path)})
    assert settings.gazetteer_path == path
    advisor = build(settings, CaseService()).engine.services.advisor
    place = advisor.locate("北岸区滨海路的路灯坏了")
    assert (place.district, place.street) == ("北岸区", "滨海街道")
    assert advisor.locate("东湖区东风路").district is None  # the demo city is not this city
    assert advisor.places.district_at(30.1, 120.1) == "北岸区"  # a map pin inside the outline
    app = create_app(settings, manage_orm=False, background=False)
    assert app[open311.PLACES] is load(path) and app[open311.PLACES] is advisor.places
    assert app[maps.PLACES] is load(path)  # the case page's map
    suggester = Suggester(settings.model_path, places=settings.gazetteer_path)
    suggester._load()
    assert suggester._gazetteer is load(path)
