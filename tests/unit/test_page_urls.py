"""URLs a page builds once for its rows (portal/web/filters.py with_query): the same as
url_for writes with the query value, for any value."""

from flask import Flask, url_for
from hypothesis import given
from hypothesis import strategies as st

from portal.web.filters import with_query

app = Flask(__name__)
app.add_url_rule("/statements/<statement_id>/question", "question", lambda statement_id: "")


@given(statement_id=st.text(min_size=1), line=st.text())
def test_a_query_added_to_a_url_built_once_is_what_url_for_writes(statement_id, line):
    with app.test_request_context("/", base_url="http://portal.test/stage"):
        once = url_for("question", statement_id=statement_id)

        assert with_query(once, line=line) == url_for(
            "question", statement_id=statement_id, line=line
        )
