"""The template helpers the patient's pages use instead of a macro or url_for per call:
the same markup and the same URLs."""

import pytest
from flask import render_template_string, url_for

from portal.domain.payments import PaymentStatus

# The status badge as _macros.html marked it up before it became the |badge filter.
MACRO_BADGE = (
    "<span class=\"badge badge-{{ status|replace(' ', '-') }}\">{{ status|capitalize }}</span>"
)
STATUSES = [*(s.value for s in PaymentStatus), "paid", "due", "past due", "a <b>&"]


@pytest.mark.parametrize("status", STATUSES)
def test_the_badge_filter_marks_up_a_status_as_the_macro_did(app, status):
    with app.test_request_context("/"):
        old = render_template_string(MACRO_BADGE, status=status)
        assert render_template_string("{{ status|badge }}", status=status) == old
        via_macro = '{% from "_macros.html" import status_badge %}{{ status_badge(status) }}'
        assert render_template_string(via_macro, status=status) == old


@pytest.mark.parametrize(
    ("endpoint", "filename"),
    [
        ("static", "portal.css"),
        ("static", "favicon.svg"),
        ("patient.lookup", None),
        ("patient.account", None),
        ("patient.create_payment", None),
    ],
)
@pytest.mark.parametrize("script_root", ["", "/prod", "/other/stage"])
def test_fixed_url_is_url_for_under_each_script_root(app, endpoint, filename, script_root):
    call = "{{ fixed_url(endpoint, filename) }}"
    # The first request under another root must not get a URL built under the one before.
    with app.test_request_context("/", base_url="http://portal.test/first/"):
        render_template_string(call, endpoint=endpoint, filename=filename)
    with app.test_request_context("/", base_url=f"http://portal.test{script_root}/"):
        expected = url_for(endpoint, filename=filename) if filename else url_for(endpoint)
        for _ in range(2):  # built, then kept
            got = render_template_string(call, endpoint=endpoint, filename=filename)
            assert got == expected
    assert expected.startswith(f"{script_root}/")
