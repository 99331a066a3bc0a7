"""Issue 18: the patient pages in Spanish: words, form messages, flash messages, error
pages, and money and dates in the US Spanish convention."""

import re
from dataclasses import replace
from html import unescape

from portal.domain.cases import INCOME_BANDS, OUTCOME_LABELS, REASON_LABELS, STATUS_LABELS
from portal.services.cases import staff_reply
from portal.services.statements import import_statement
from portal.web.service_words import in_page_language
from tests.conftest import csrf_token, lopez_account, statement
from tests.integration.conftest import GUARANTOR, sign_in, start_payment

SPANISH = {"Accept-Language": "es-US,es;q=0.9"}


def text_of(html: str) -> str:
    """The visible text, one space between words."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_quick_pay_in_spanish(client):
    page = client.get("/pay", headers=SPANISH).get_data(as_text=True)

    assert '<html lang="es">' in page
    for words in (
        "Pague su factura",
        "Número de cuenta",
        "Apellido",
        "Fecha de nacimiento",
        "Aparece en la parte de arriba de su estado de cuenta.",
        "Buscar mi saldo",
        "Ir al contenido principal",
    ):
        assert words in page, words


def test_form_messages_in_spanish(client, lopez):
    token = csrf_token(client.get("/pay", headers=SPANISH).get_data(as_text=True))
    empty = client.post("/pay", data={"csrf_token": token}, headers=SPANISH)
    assert empty.status_code == 422
    text = text_of(empty.get_data(as_text=True))
    assert "Hay un problema" in text
    assert "Escriba el número de cuenta que aparece en su estado de cuenta." in text
    assert "Escriba la fecha de nacimiento." in text

    wrong_date = {**GUARANTOR, "date_of_birth": "12/03/1984", "csrf_token": token}
    text = text_of(client.post("/pay", data=wrong_date, headers=SPANISH).get_data(as_text=True))
    assert "Escriba la fecha de nacimiento así: AAAA-MM-DD." in text

    wrong = {**GUARANTOR, "last_name": "Smith", "csrf_token": token}
    failed = client.post("/pay", data=wrong, headers=SPANISH)
    assert failed.status_code == 401
    assert "No encontramos ninguna cuenta con esos datos." in failed.get_data(as_text=True)


def test_the_account_page_in_spanish_with_money_and_dates_for_spanish(client, services):
    account = lopez_account()
    guarantor = replace(account.guarantor, preferred_language="es")
    import_statement(services, replace(account, guarantor=guarantor), statement(), notify=False)
    sign_in(client)

    text = text_of(client.get("/account").get_data(as_text=True))

    for words in (
        "Su saldo",
        "Saldo a pagar $30.00",
        "Pagar todo el saldo, $30.00",
        "Pague otro monto, desde $1.00 hasta $30.00.",
        "Estados de cuenta pendientes",
        "con fecha del 1 nov 2026, vence el 30 nov 2026",
        "Por pagar",
        "Movimientos de la cuenta",
        "Estado de cuenta S-2026-000123: usted paga $30.00 después del seguro",
        "Cerrar sesión",
    ):
        assert words in text, words
    assert "Your balance" not in text


def test_the_statement_page_in_spanish(patient):
    patient.get("/language/es?next=/account")

    text = text_of(patient.get("/statements/S-2026-000123").get_data(as_text=True))

    for words in (
        "Estado de cuenta S-2026-000123",
        "Fecha de vencimiento 30 nov 2026",
        "Pagado por el seguro \u2212$240.00",
        "Para qué fue cada cargo",
        "Usted debe $45.50",
        "Descargar PDF",
    ):
        assert words in text, words


def test_a_payment_error_from_the_services_in_spanish(patient):
    patient.get("/language/es?next=/account")

    response = start_payment(patient, "500.00")

    assert response.status_code == 422
    assert "El monto es mayor que su saldo de $95.50." in text_of(response.get_data(as_text=True))


def test_a_flash_message_in_spanish(patient):
    patient.get("/language/es?next=/account")
    token = csrf_token(patient.get("/account").get_data(as_text=True))

    signed_out = patient.post("/signout", data={"csrf_token": token}, follow_redirects=True)

    assert "Cerró la sesión." in signed_out.get_data(as_text=True)


def test_error_pages_in_spanish(client):
    missing = client.get("/no-such-page", headers=SPANISH)
    assert missing.status_code == 404
    text = text_of(missing.get_data(as_text=True))
    assert "Página no encontrada" in text
    assert "Ir a Pago rápido" in text

    stale = client.post("/pay", data={**GUARANTOR, "csrf_token": "stale"}, headers=SPANISH)
    assert stale.status_code == 400
    assert "Este formulario estaba vencido" in stale.get_data(as_text=True)


def test_english_pages_are_as_they_were(patient):
    text = text_of(patient.get("/account", headers={"Accept-Language": "en"}).text)

    assert "Balance due $95.50" in text
    assert "dated Nov 1, 2026, due Nov 30, 2026" in text
    assert "Pay another amount, from $1.00 up to $95.50." in text


def test_the_session_end_is_told_in_spanish(patient, clock):
    patient.get("/language/es?next=/account")
    clock.advance(minutes=16)

    page = patient.get("/account", follow_redirects=True).get_data(as_text=True)

    assert "Para proteger su privacidad, su sesión se cerró" in page


def test_every_case_label_a_patient_sees_is_in_spanish(app):
    """The domain writes the questions' labels in English (staff pages show them so); each
    one patients see has its Spanish (service_words.py lists it for the catalog)."""
    labels = [
        *REASON_LABELS.values(),
        *STATUS_LABELS.values(),
        *OUTCOME_LABELS.values(),
        *INCOME_BANDS.values(),
    ]
    with app.test_request_context("/account", headers=SPANISH):
        untranslated = [label for label in labels if in_page_language(label) == label]

    assert untranslated == []


def test_a_question_in_spanish_with_the_offices_reply_as_written(patient, services):
    patient.get("/language/es?next=/account")
    page = patient.get("/statements/S-2026-000123/question?line=1").get_data(as_text=True)
    assert "Preguntar por un cargo" in page and "¿Por qué pregunta?" in page
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', page).group(1)
    form = {"csrf_token": csrf_token(page), "request_key": key, "line_id": "1"}
    path = "/statements/S-2026-000123/question"

    refused = patient.post(path, data={**form, "reason": "other", "message": "a\x07b"})
    assert refused.status_code == 422
    assert "El mensaje tiene un carácter de control; escríbalo como texto simple." in text_of(
        refused.get_data(as_text=True)
    )

    asked = patient.post(path, data={**form, "reason": "charged_twice"}, follow_redirects=True)
    text = text_of(asked.get_data(as_text=True))
    assert "Su pregunta se envió." in text
    assert "Me cobraron dos veces" in text and "Esperando a la oficina de facturación" in text
    case_id = services.store.account_cases("100234")[0].case_id
    staff_reply(services, "alice", case_id, "reply", "We billed it once.", "f" * 32, "")
    text = text_of(patient.get(f"/account/cases/{case_id}").get_data(as_text=True))
    assert "Oficina de facturación" in text and "We billed it once." in text
    assert "Respondida" in text
    account = text_of(patient.get("/account").get_data(as_text=True))
    assert "1 respuesta de la oficina de facturación" in account


def test_a_statement_shows_the_practices_spanish_descriptions_or_marks_the_english(
    client, services
):
    account = lopez_account()
    spanish = replace(account, guarantor=replace(account.guarantor, preferred_language="es"))
    plain = statement(owed=(3000, 4550))
    lines = (replace(plain.lines[0], description_es="Consulta de seguimiento"), plain.lines[1])
    import_statement(services, spanish, replace(plain, lines=lines), notify=False)
    sign_in(client)

    page = client.get(f"/statements/{plain.statement_id}").get_data(as_text=True)

    assert "<h3>Consulta de seguimiento</h3>" in page
    english = plain.lines[1].description
    assert (
        f'<h3><span lang="en">{english}</span> <span class="muted">(en inglés)</span></h3>' in page
    )
    client.get(f"/language/en?next=/statements/{plain.statement_id}")
    in_english = client.get(f"/statements/{plain.statement_id}").get_data(as_text=True)
    assert f"<h3>{english}</h3>" in in_english and "Consulta de seguimiento" not in in_english


def test_each_language_compiles_its_templates_once_and_reuses_them(client):
    """Templates are compiled per page language (portal/web/template_language.py): one
    overlay per language, kept across requests, each page in its own language."""
    env = client.application.jinja_env
    for _ in range(2):
        assert '<html lang="es">' in client.get("/pay", headers=SPANISH).get_data(as_text=True)
        assert "Pay your bill" in client.get("/pay").get_data(as_text=True)
    languages = env.__dict__["languages"]
    overlays = dict(languages)
    assert set(overlays) >= {"es", "en"}

    spanish = client.get("/pay", headers=SPANISH).get_data(as_text=True)
    english = client.get("/pay").get_data(as_text=True)
    assert "Pague su factura" in spanish and "Pay your bill" not in spanish
    assert "Pay your bill" in english and "Pague su factura" not in english
    assert all(languages[code] is overlays[code] for code in overlays)
    assert all(overlays[code].cache for code in overlays)
