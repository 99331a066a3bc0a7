"""Procedure and diagnosis code formats (CPT, HCPCS Level II, ICD-10-CM)."""

import re

CPT_PATTERN = r"[0-9]{4}[0-9FTU]"
HCPCS_PATTERN = r"[A-V][0-9]{4}"
ICD10_PATTERN = r"[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?"
_CPT = re.compile(CPT_PATTERN)
_HCPCS = re.compile(HCPCS_PATTERN)
_ICD10 = re.compile(ICD10_PATTERN)
_ICD9 = re.compile(r"(?:[0-9]{3}|V[0-9]{2}|E[0-9]{3})(?:\.[0-9]{1,2})?")

CODE_SYSTEMS = ("CPT", "HCPCS")


def procedure_code_error(code_system: str, code: str) -> str | None:
    """None when the code is well formed for its system, else what is wrong with it.

    The message never repeats the code: import errors are printed and logged, and a code
    is health information."""
    if code_system == "CPT":
        if _CPT.fullmatch(code):
            return None
        return "Not a CPT code (4 digits then a digit, F, T or U, e.g. 99213)."
    if code_system == "HCPCS":
        if _HCPCS.fullmatch(code):
            return None
        return "Not a HCPCS Level II code (a letter A-V then 4 digits, e.g. J1100)."
    return f"Unknown code system {code_system!r}: use CPT or HCPCS."


def diagnosis_code_error(code: str) -> str | None:
    """None for a well-formed ICD-10-CM code; ICD-9 codes are refused by name."""
    if _ICD10.fullmatch(code):
        return None
    if _ICD9.fullmatch(code):
        return "Looks like an ICD-9 code; ICD-9 is retired, use ICD-10-CM."
    return "Not an ICD-10-CM code (e.g. J06.9, E11.65, S52.521A)."


def diagnosis_code_key(code: str) -> str:
    """ICD-10 codes are stored as written and compared without the dot."""
    return code.replace(".", "").upper()
