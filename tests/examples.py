"""How many examples the costliest property tests try: a third of the full count in `make
test`, the full count in `make test-slow` (PORTAL_FULL_EXAMPLES=1), which runs them again."""

import os

FULL = os.environ.get("PORTAL_FULL_EXAMPLES") == "1"


def examples(full: int) -> int:
    return full if FULL else full // 3
