"""Phone intake (代录): an operator records a call as a case with the classifier's suggestion."""

from __future__ import annotations

from storage.models import Case, CaseEvent, Citizen
from tests.backoffice.conftest import City, build_app
from tests.support.server import serving


async def test_operator_records_a_call_with_suggestions(database_url: str, city: City) -> None:
    from tests.backoffice.conftest import Browser

    async with serving(build_app(database_url, suggestions=True)) as base:
        operator = Browser(base)
        try:
            await operator.login("operator")
            await operator.get("/intake")
            text = "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑。"
            status, page = await operator.post("/intake", {"text": text, "name": "王阿姨", "phone": "13912345678",
                                                           "kind": "complaint", "urgency": "normal",
                                                           "do": "suggest"})
            assert status == 200 and "智能建议" in page and "城乡建设" in page and "路灯" in page
            status, page = await operator.post("/intake", {"text": text, "name": "王阿姨", "phone": "13912345678",
                                                           "kind": "complaint", "urgency": "normal",
                                                           "do": "record"})
            assert status == 200 and "139****5678" in page and "已登记" in page
        finally:
            await operator.close()
    case = await Case.get(text=text)
    assert case.channel.value == "phone" and case.category == "城乡建设"
    assert case.suggestion["category"] == "城乡建设" and case.suggestion["categories"][0]["evidence"]
    citizen = await Citizen.get(id=case.citizen_id)
    assert citizen.name == "王阿姨" and citizen.phone == "13912345678"
    event = await CaseEvent.get(case_id=case.id)
    assert event.staff_id == city.staff["operator"].id


async def test_only_operators_record_calls_and_text_is_required(login_as, city: City) -> None:
    dispatcher = await login_as("dispatcher")
    status, _ = await dispatcher.get("/intake")
    assert status == 403
    operator = await login_as("operator")
    await operator.get("/intake")
    status, page = await operator.post("/intake", {"text": "   ", "do": "record"})
    assert status == 400 and "请填写" in page
    status, _ = await operator.post("/intake", {"text": "x", "kind": "bogus", "do": "record"})
    assert status == 400
    status, page = await operator.post("/intake", {"text": "小区路灯坏了", "phone": "abc123", "do": "record"})
    assert status == 400 and "联系电话格式不对" in page and 'value="abc123"' in page  # kept to correct
    assert await Case.all().count() == 0
    status, _ = await operator.post("/intake", {"text": "小区路灯坏了", "phone": "+86 139-1234-5678", "do": "record"})
    assert status == 200  # the case page, after the redirect
    assert (await Case.get()).citizen_id is not None
    from storage.models import Citizen

    assert (await Citizen.get(id=(await Case.get()).citizen_id)).phone == "13912345678"  # stored as digits
