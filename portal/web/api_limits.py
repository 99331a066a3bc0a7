"""What one request to the JSON API may hold and what an answer lists (portal/web/api.py
applies them; portal/web/openapi.py documents them). The statement format's own limits are
in portal/domain/import_format.py."""

MAX_BODY_MB = 5  # the body of POST /api/v1/statements
MAX_BODY_BYTES = MAX_BODY_MB * 1024 * 1024
MAX_STATEMENTS = 1000  # statements in one request
MAX_ERRORS_SHOWN = 20  # problems listed for one rejected statement (then one "more" entry)
MAX_TEXT = 300  # characters of a statement id, field or message in an answer
