"""The code compiled ahead for @dataclass (portal/dataclass_code.py): with it every class
of the portal gets the very methods it gets without it, and none of their texts is
compiled again; a file of another bytecode version is ignored; a text it lacks is
compiled as always."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# In a child process: every module of portal and functions imported (the cache installed
# from argv[1] when given), then a digest of each method @dataclass wrote and how many texts
# were compiled.
PROBE = r"""
import builtins, dataclasses, importlib, json, sys
from pathlib import Path

compiled = []
real_compile = builtins.compile


def counting_compile(source, filename, *args, **kwargs):
    if filename == "<string>" and isinstance(source, str) and "__create_fn__" in source:
        compiled.append(source)
    return real_compile(source, filename, *args, **kwargs)


def counting_exec(source, *args):
    if isinstance(source, str):
        compiled.append(source)
    return exec(source, *args)


builtins.compile = counting_compile  # what the cache compiles (a text it lacks)
from portal import dataclass_code

found = dataclass_code.install(Path(sys.argv[1])) if len(sys.argv) > 1 else 0
if not found:
    dataclasses.exec = counting_exec  # every text, compiled by exec as always


def shape(code):
    return [
        code.co_code.hex(), code.co_names, code.co_varnames, code.co_freevars,
        code.co_cellvars, code.co_argcount, code.co_kwonlyargcount, code.co_flags,
        code.co_filename, code.co_qualname, code.co_firstlineno, code.co_linetable.hex(),
        code.co_exceptiontable.hex(),
        [shape(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts],
    ]


methods = {}
for name in dataclass_code._modules(dataclass_code.PACKAGES):
    module = importlib.import_module(name)
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and dataclasses.is_dataclass(value)
            and value.__module__ == name
        ):
            for attribute, function in vars(value).items():
                code = getattr(function, "__code__", None)
                if code is not None and code.co_filename == "<string>":
                    methods[f"{name}.{value.__qualname__}.{attribute}"] = shape(code)


before = len(compiled)


@dataclasses.dataclass(frozen=True)
class NotInTheCache:
    only_here_and_now: int
    and_this: str = "default"


made = NotInTheCache(1)
assert made == NotInTheCache(1, "default") and repr(made) == (
    "NotInTheCache(only_here_and_now=1, and_this='default')"
)
print(json.dumps({
    "found": found, "compiled": before, "compiled_after": len(compiled) - before,
    "methods": methods,
}))
"""


def probe(*cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, cache)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written as `make package` writes it, by a child process."""
    path = tmp_path_factory.mktemp("dataclass-code") / "dataclass_code.marshal"
    record = "import sys\nfrom pathlib import Path\nfrom portal.dataclass_code import record\n"
    record += "print(record(Path(sys.argv[1])))"
    run = subprocess.run(
        [sys.executable, "-c", record, str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) > 500, run.stdout
    return path


def test_with_the_cache_every_class_gets_the_same_methods_and_nothing_is_compiled(
    cache_file: Path,
) -> None:
    without, with_cache = probe(), probe(cache_file)
    assert without["found"] == 0
    assert with_cache["found"] > 500
    assert len(without["methods"]) > 500, "the probe found the portal's dataclasses"
    assert with_cache["methods"] == without["methods"]
    # Without the cache every method's text is compiled; with it none of the portal's,
    # and a class it has never seen is compiled as always.
    assert without["compiled"] >= len(without["methods"])
    assert with_cache["compiled"] == 0
    assert with_cache["compiled_after"] == without["compiled_after"] == 6


def test_a_cache_of_another_bytecode_version_is_ignored(cache_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.marshal"
    other.write_bytes(b"\x00\x00\r\n" + cache_file.read_bytes()[4:])
    result = probe(other)
    assert result["found"] == 0
    assert result["compiled"] >= len(result["methods"])


def test_without_the_file_nothing_is_installed() -> None:
    import dataclasses

    from portal import dataclass_code

    assert not dataclass_code.CACHE_FILE.exists(), "only the Lambda zip holds it"
    assert "exec" not in vars(dataclasses)
    assert dataclass_code.install(Path("/nonexistent/dataclass_code.marshal")) == 0
    assert "exec" not in vars(dataclasses)
