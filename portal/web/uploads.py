"""A file sent by a console form (its field `file`), read with its size checked."""

from flask import request

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the app refuses larger bodies anyway (413)


def read_upload(
    choose: str, too_large: str, max_bytes: int = MAX_UPLOAD_BYTES, suffixes: tuple[str, ...] = ()
) -> tuple[str, bytes | None, str | None]:
    """The file's name, its bytes, and what is wrong with it (then no bytes): `choose` when
    no file was sent, `too_large` when it has more than `max_bytes`, and when `suffixes` are
    given, a name that ends in none of them."""
    upload = request.files.get("file")
    filename = upload.filename or "" if upload else ""
    if upload is None or not filename:
        return filename, None, choose
    if suffixes and not filename.lower().endswith(suffixes):
        return filename, None, f"Choose a file whose name ends in {' or '.join(suffixes)}."
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        return filename, None, too_large
    return filename, data, None
