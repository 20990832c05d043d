"""Classifier command line: train, evaluate and classify on small CSV files in a temp dir."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from intents import cli

ROWS = [
    ("社保缴费基数怎么算", "单位按最低基数给我交社保", "劳动和社会保障"),
    ("养老保险断缴", "换工作后养老保险断缴了怎么补", "劳动和社会保障"),
    ("公司拖欠工资", "公司三个月没发工资", "劳动和社会保障"),
    ("失业保险金领取", "", "劳动和社会保障"),
    ("工伤认定", "工伤认定需要什么材料", "劳动和社会保障"),
    ("学校乱收补课费", "学校强制学生补课收费", "教育文体"),
    ("入学学位不够", "孩子入学没有学位", "教育文体"),
    ("幼儿园收费太高", "", "教育文体"),
    ("老师体罚学生", "班主任体罚学生", "教育文体"),
    ("中学教辅资料", "学校强制购买教辅资料", "教育文体"),
    ("公交车司机玩手机", "公交车司机开车玩手机很危险", "交通运输"),
    ("出租车拒载", "出租车拒载还绕路", "交通运输"),
    ("公交线路太少", "等公交车太久", "交通运输"),
    ("货车超载", "", "交通运输"),
    ("网约车乱收费", "网约车司机乱收费", "交通运输"),
]


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "train.csv", ["title", "body", "label"], ROWS)


@pytest.fixture
def model(tmp_path: Path, data: Path, capsys) -> Path:
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--csv", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def test_train_writes_model_and_summary(tmp_path: Path, data: Path, capsys) -> None:
    titles = write_csv(tmp_path / "titles.csv", ["title", "label"], [("社保卡补办", "劳动和社会保障")])
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--csv", str(data), "--csv", str(titles), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert out.exists() and summary["model"] == str(out) and summary["records"] == 16
    assert summary["labels"] == {"交通运输": 5, "劳动和社会保障": 6, "教育文体": 5}
    assert "[train] features" in captured.err and "fit" in captured.err


def test_train_with_corrections_reports_before_and_after(tmp_path: Path, data: Path, capsys) -> None:
    fixes = write_csv(tmp_path / "fix.csv", ["text", "label"],
                      [(f"小区{i}号楼电梯坏了没人修", "城乡建设") for i in range(10)])
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--csv", str(data), "--corrections", str(fixes), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    check = summary["held_out_accuracy"]
    assert summary["corrections"] == 10 and check["corrections_held_out"] == 2
    assert check["corrections_before"] == 0.0 and check["corrections_after"] == 1.0  # a new label learnt


def test_evaluate_prints_one_json_object(model: Path, data: Path, capsys) -> None:
    assert cli.main(["evaluate", "--csv", str(data), "--model", str(model)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"n", "accuracy", "macro_f1", "top3_accuracy", "per_label", "ms_per_message"}
    assert result["n"] == 15 and result["accuracy"] == 1.0 and result["top3_accuracy"] == 1.0
    assert result["per_label"]["教育文体"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 5}


def test_classify_prints_top3(model: Path, capsys) -> None:
    assert cli.main(["classify", "公司拖欠工资不发", "--model", str(model)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("1. 劳动和社会保障\t")
    assert cli.main(["classify", "出租车拒载", "--json", "--model", str(model)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["category"] == "交通运输" and rows[0]["evidence"]
    assert sum(r["score"] for r in rows) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("", "empty"), ("title,body\n社保,社保\n", "label"), ("title,label\n", "no rows")],
)
def test_bad_csv_exits_2_with_message(tmp_path: Path, capsys, content: str | None, message: str) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert cli.main(["train", "--csv", str(path), "--out", str(tmp_path / "m.npz")]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "m.npz").exists()


def test_missing_model_exits_2(tmp_path: Path, data: Path, capsys) -> None:
    assert cli.main(["evaluate", "--csv", str(data), "--model", str(tmp_path / "none.npz")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_register_adds_subcommands() -> None:
    parser = argparse.ArgumentParser(prog="appeals")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["classify", "社保"])
    assert callable(args.func) and args.limit == 3
