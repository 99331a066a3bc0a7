"""Redirect targets named by a request (a form field, a query): only a local path is followed."""

import re
from urllib.parse import unquote, urlsplit

# C0 controls, DEL and C1 controls: CR/LF would split the Location header, the rest has no
# business in a path a form sends back.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def local_path(target: str | None, default: str, prefix: str = "/") -> str:
    """`target` when it is a path on this site starting with `prefix`, else `default`.

    Refused: anything with a scheme or host ("https://x", "//x", "/\\x"), backslashes, ".."
    segments, and control characters (CR/LF, NUL, TAB, ...), raw or percent-encoded.
    """
    if not target or not target.startswith(prefix) or not target.startswith("/"):
        return default
    decoded = unquote(target)
    if _CONTROL.search(target) or _CONTROL.search(decoded):
        return default
    if "\\" in decoded or target.startswith("//") or "//" in urlsplit(target).path:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    if ".." in unquote(parts.path).split("/"):
        return default
    return target
