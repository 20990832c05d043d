from datetime import date

import pytest

from intents.extract import (
    case_numbers,
    dates,
    id_checksum_ok,
    id_numbers,
    mask_id,
    mask_phone,
    mask_pii,
    normalize_width,
    phones,
)

# 11010519491231002X is the published sample number with a valid check character.
VALID_ID = "11010519491231002X"


def test_mobile_numbers_in_several_spellings():
    text = "电话13812345678，或者139 1234 5678，也可以打+86 137-1234-5678"
    assert [p.number for p in phones(text)] == ["13812345678", "13912345678", "13712345678"]
    assert all(p.kind == "mobile" for p in phones(text))


def test_full_width_digits_are_normalised():
    assert normalize_width("１３８") == "138"
    [phone] = phones("我的手机是１３８１２３４５６７８")
    assert phone.number == "13812345678"
    assert phone.raw == "１３８１２３４５６７８"


def test_landline_with_area_code():
    found = phones("请拨打0755-8123456或(010)87654321联系")
    assert [(p.number, p.kind) for p in found] == [("0755-8123456", "landline"), ("010-87654321", "landline")]


def test_no_phone_inside_longer_digit_runs():
    assert phones("订单号 213812345678901") == []
    assert phones(f"身份证{VALID_ID}") == []


def test_id_number_checksum():
    assert id_checksum_ok(VALID_ID)
    assert id_checksum_ok(VALID_ID.lower())
    assert not id_checksum_ok("110105194912310021")
    [found] = id_numbers(f"身份证号{VALID_ID}，请核实")
    assert found.number == VALID_ID
    assert found.birth_date == date(1949, 12, 31)
    assert found.region == "110105"
    assert id_numbers("身份证号110105194912310021") == []


def test_id_number_with_impossible_birth_date_is_rejected():
    assert id_numbers("110105194913310020") == []


def test_case_numbers():
    [found] = case_numbers("我的单号是8890-20261126-00042，请帮我查一下")
    assert (found.number, found.prefix, found.day, found.serial) == ("8890-20261126-00042", "8890",
                                                                   date(2026, 11, 26), 42)
    assert case_numbers("12345－20261126－00007")[0].number == "12345-20261126-00007"
    assert case_numbers("8890-20261126-00042", prefixes=("12345",)) == []
    assert case_numbers("8890-20261399-00042") == []


def test_dates_absolute_and_relative():
    today = date(2026, 11, 26)
    text = "2026年11月20日报过一次，11月25日又去了，2026-11-01也有，昨天还在，前天也在"
    found = dates(text, today)
    assert [d.value for d in found] == [date(2026, 11, 20), date(2026, 11, 25), date(2026, 11, 1),
                                        date(2026, 11, 25), date(2026, 11, 24)]
    assert [d.relative for d in found] == [False, False, False, True, True]
    assert dates("今天", today)[0].value == today


def test_year_less_date_takes_the_nearest_year():
    assert dates("12月30日停的水", date(2027, 1, 3))[0].value == date(2026, 12, 30)


def test_chinese_numeral_dates():
    assert dates("十一月二十六日", date(2026, 11, 27))[0].value == date(2026, 11, 26)


def test_case_number_is_not_a_date_or_phone():
    text = "单号8890-20261126-00042"
    assert dates(text, date(2026, 11, 26)) == []
    assert phones(text) == []


def test_mask_helpers():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id(VALID_ID) == "110***********002X"
    assert mask_id(VALID_ID, keep_head=6) == "110105********002X"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678", "电话138****5678"),
        ("电话 +86 138-1234-5678 谢谢", "电话 +86 138****5678 谢谢"),
        ("座机0755-8123456", "座机0755-***3456"),
        (f"身份证{VALID_ID}", "身份证110***********002X"),
        ("单号8890-20261126-00042不变", "单号8890-20261126-00042不变"),
        ("没有个人信息", "没有个人信息"),
        ("手机138\u200b1234\u200b5678", "手机138****5678"),
    ],
)
def test_mask_pii(text, expected):
    assert mask_pii(text) == expected
