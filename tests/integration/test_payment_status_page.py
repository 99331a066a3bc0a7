"""The patient's payment page says what became of a payment, whatever its status."""

from portal.services.staff_actions import post_manual_payment, reverse_manual_payment
from tests.conftest import csrf_token
from tests.integration.conftest import sign_in


def test_a_reversed_payment_is_not_called_canceled(client, services, lopez):
    posted = post_manual_payment(
        services, "alice", "100234", "check", "30.00", "77", "e" * 32, "127.0.0.1"
    )
    payment_id = posted.payment.payment_id
    reverse_manual_payment(services, "alice", payment_id, "Check returned", "127.0.0.1")
    sign_in(client)

    html = client.get(f"/payments/{payment_id}").get_data(as_text=True)

    assert "This payment was reversed" in html
    assert "nothing was charged" not in html
    assert "Payment canceled" not in html


def test_a_pending_payment_page_does_not_reload_by_itself(client, services, lopez):
    sign_in(client)
    token = client.get("/account").get_data(as_text=True)

    checkout = client.post("/payments", data={"amount": "10.00", "csrf_token": csrf_token(token)})
    assert checkout.status_code == 303
    pending = [p for p in services.store.account_records("100234").payments]
    html = client.get(f"/payments/{pending[0].payment_id}").get_data(as_text=True)

    assert 'http-equiv="refresh"' not in html
    assert "Check again" in html
