"""Mobile numbers as texts are sent to them: E.164 ("+15555550123")."""

import re

# "+", a country code, up to 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def normalize_phone(text: str) -> str:
    """A number as written ("(555) 555-0123", "+1 555 555 0123") in E.164 form; a ten-digit
    number is taken as North American (+1). "" when it cannot be one."""
    digits = "".join(ch for ch in text or "" if ch.isascii() and ch.isdigit())
    if (text or "").strip().startswith("+"):
        candidate = "+" + digits
    elif len(digits) == 10:
        candidate = "+1" + digits
    elif len(digits) == 11 and digits.startswith("1"):
        candidate = "+" + digits
    else:
        return ""
    return candidate if E164.fullmatch(candidate) else ""
