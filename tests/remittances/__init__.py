"""The 835 corpus: good/ (each case the portal posts) and bad/ (each refused whole, its
`# expect:` lines the refusals in the order of the file). Lines starting with `#` are
comments for readers; `corpus_text` leaves them out (X12 has no comments)."""

from pathlib import Path

HERE = Path(__file__).parent
GOOD = HERE / "good"
BAD = HERE / "bad"


def corpus_text(path: Path) -> str:
    return "".join(line for line in path.read_text().splitlines(True) if not line.startswith("#"))


def expected_refusals(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n")
        for line in path.read_text().splitlines(True)
        if line.startswith("# expect: ")
    ]
