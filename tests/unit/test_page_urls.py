"""URLs a page builds once for its rows (portal/web/filters.py with_query): the same as
url_for writes with the query value, for any value."""

from flask import Flask, url_for
from hypothesis import given
from hypothesis import strategies as st

from portal.web.filters import init_app, with_query

app = Flask(__name__)
app.add_url_rule("/statements/<statement_id>/question", "question", lambda statement_id: "")


@given(statement_id=st.text(min_size=1), line=st.text())
def test_a_query_added_to_a_url_built_once_is_what_url_for_writes(statement_id, line):
    with app.test_request_context("/", base_url="http://portal.test/stage"):
        once = url_for("question", statement_id=statement_id)

        assert with_query(once, line=line) == url_for(
            "question", statement_id=statement_id, line=line
        )


def rows_app() -> Flask:
    rows = Flask(__name__)
    for rule, endpoint in (
        ("/statements/<statement_id>", "statement"),
        ("/statements/<statement_id>.pdf", "statement_pdf"),
        ("/payments/<payment_id>", "payment"),
        ("/cases/<int:case_id>", "numbered"),
        ("/files/<path:name>", "file"),
    ):
        rows.add_url_rule(rule, endpoint, lambda **values: "")
    init_app(rows)
    return rows


ROWS = rows_app()
ROW_URL = ROWS.jinja_env.globals["row_url"]


@given(
    endpoint=st.sampled_from(["statement", "statement_pdf", "payment"]),
    value=st.text(min_size=1),
    root=st.sampled_from(["", "/stage", "/dev/portal"]),
)
def test_a_row_url_is_what_url_for_writes(endpoint, value, root):
    name = "payment_id" if endpoint == "payment" else "statement_id"
    with ROWS.test_request_context("/", base_url=f"http://portal.test{root}"):
        assert ROW_URL(endpoint, **{name: value}) == url_for(endpoint, **{name: value})


@given(number=st.integers(min_value=0), name=st.text(min_size=1))
def test_other_converters_and_extra_values_are_left_to_url_for(number, name):
    with ROWS.test_request_context("/"):
        assert ROW_URL("numbered", case_id=number) == url_for("numbered", case_id=number)
        assert ROW_URL("file", name=name) == url_for("file", name=name)
        assert ROW_URL("statement", statement_id="S-1", line=name) == url_for(
            "statement", statement_id="S-1", line=name
        )
