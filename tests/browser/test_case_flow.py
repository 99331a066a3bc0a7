"""A question asked in Chromium at phone width (issue 17): from the statement to the case
page, a refused message that is too long, the billing office's reply read on the portal
after the e-mail that says only that there is one, and the patient's answer; no page
wider than the phone."""

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.config import Settings
from portal.domain.cases import Status
from portal.services.cases import staff_reply
from portal.services.context import Services
from tests.browser.test_pay_flow import PhoneChecks

REPLY = "We asked your insurer to look at the strep test again."


@pytest.mark.browser
def test_asking_about_a_charge_and_reading_the_reply_on_a_phone(
    page: Page, lopez, services: Services, settings: Settings
) -> None:
    phone = PhoneChecks(page)
    page.goto("/pay")
    page.get_by_label("Account number", exact=True).fill("100234")
    page.get_by_label("Last name", exact=True).fill("Lopez")
    page.get_by_label("Date of birth", exact=True).fill("1984-03-12")
    page.get_by_role("button", name="Find my balance").click()
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()

    # From the statement, a line's "Question this charge".
    page.get_by_role("link", name=re.compile(r"^Statement S-2026-000123")).click()
    page.get_by_role("link", name=re.compile(r"^Question this charge")).first.click()
    expect(page.get_by_role("heading", name="Question a charge", level=1)).to_be_visible()
    phone.check("/statements/<id>/question", "case-question-375.png")

    # Too long: the error summary names the field, the text is kept, nothing is stored.
    page.get_by_label("Insurance should have paid").check()
    box = page.get_by_label("Anything you want us to know (optional)")
    box.evaluate("(el) => el.removeAttribute('maxlength')")
    box.fill("x" * 2001)
    page.get_by_role("button", name="Send my question").click()
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text("2,000 characters")
    assert services.store.account_cases("100234") == []
    phone.check("question refused")
    summary.get_by_role("link").first.click()
    expect(box).to_be_focused()

    box.fill("My insurance covers preventive visits in full.")
    page.get_by_role("button", name="Send my question").click()
    expect(page.get_by_role("status")).to_contain_text("Your question was sent")
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for the billing office")
    phone.check("/account/cases/<id>", "case-375.png")
    [case] = services.store.account_cases("100234")
    assert case.line_id == "1" and case.status is Status.OPEN

    # The billing office replies: the e-mail says there is a reply, with a link.
    staff_reply(services, "alice", case.case_id, "more_info", REPLY, "9" * 32, "")
    [eml] = list(Path(settings.outbox_dir).glob("*.eml"))
    mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["X-Portal-Message-Kind"] == "case-update"
    text = mail.get_body(("plain",)).get_content()
    assert REPLY not in text and "strep" not in text
    link = re.search(r"(http://127\.0\.0\.1:\d+/account#cases)", text).group(1)

    page.goto(link)
    cases = page.get_by_test_id("cases")
    expect(cases).to_contain_text("The billing office needs more from you")
    cases.get_by_role("link", name="Insurance should have paid").click()
    expect(page.get_by_test_id("messages")).to_contain_text(REPLY)
    page.get_by_label("Your reply").fill("Here is the policy number: 12345.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_contain_text("Your reply was sent")
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for the billing office")
    phone.check("/account/cases/<id> after the reply", "case-replied-375.png")
    assert services.store.get_case(case.case_id).messages[-1].text.endswith("12345.")
    phone.assert_clean()
