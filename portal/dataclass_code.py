"""The methods @dataclass writes, compiled ahead for the Lambda zip.

On Python 3.11 `@dataclass` writes each class's __init__, __repr__, __eq__, __hash__ (and
for a frozen class __setattr__ and __delattr__) as source text and compiles it: about
0.6 ms a class, 80 ms of every cold start for the portal's classes, which Lambda's
read-only task root cannot cache as it caches modules in their .pyc. `make package`
(tools/finish_lambda_zip.py) imports the portal once, keeps the code compiled from each
text in `dataclass_code.marshal` next to this module, and the zip's portal runs that code
instead of compiling the same text again.

The text (its SHA-256) is the key, and the code is what `exec` would compile from it (same file name
`<string>`, no inherited flags), so a class whose text is not there (a different patch
release of Python writing other text) is compiled as always: a stale file costs time,
never behaviour. Without the file (a checkout, the tests) nothing is changed.
"""

import dataclasses
import hashlib
import importlib
import importlib.util
import marshal
from pathlib import Path
from types import CodeType
from typing import Any

CACHE_FILE = Path(__file__).with_name("dataclass_code.marshal")
PACKAGES = ("portal", "functions")
# Modules that do more than define (the app built at import, the CLI's entry point).
NOT_IMPORTED = frozenset({"portal.wsgi", "portal.__main__"})
_exec = exec


def _compiled(text: str) -> CodeType:
    return compile(text, "<string>", "exec", dont_inherit=True)


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def install(path: Path = CACHE_FILE) -> int:
    """Run @dataclass's methods from the code in `path` when it was written by this Python's
    bytecode version; the number of texts found (0: nothing installed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    magic = importlib.util.MAGIC_NUMBER
    if not data.startswith(magic):
        return 0
    codes: dict[bytes, CodeType] = marshal.loads(data[len(magic) :])

    def exec_known_text(source: Any, globals_: Any = None, locals_: Any = None) -> None:
        if isinstance(source, str):
            source = codes.get(_key(source)) or _compiled(source)
        _exec(source, globals_, locals_)

    dataclasses.exec = exec_known_text  # type: ignore[attr-defined]
    return len(codes)


def record(path: Path = CACHE_FILE, packages: tuple[str, ...] = PACKAGES) -> int:
    """Import every module of `packages`, keep the code of each text @dataclass compiled
    meanwhile in `path`; the number of texts kept."""
    codes: dict[bytes, CodeType] = {}

    def exec_and_keep(source: Any, globals_: Any = None, locals_: Any = None) -> None:
        if isinstance(source, str):
            key = _key(source)
            if key not in codes:
                codes[key] = _compiled(source)
            source = codes[key]
        _exec(source, globals_, locals_)

    dataclasses.exec = exec_and_keep  # type: ignore[attr-defined]
    try:
        for name in _modules(packages):
            importlib.import_module(name)
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    path.write_bytes(importlib.util.MAGIC_NUMBER + marshal.dumps(codes))
    return len(codes)


def _modules(packages: tuple[str, ...]) -> list[str]:
    import pkgutil

    names = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for module in pkgutil.walk_packages(package.__path__, package_name + "."):
            if module.name not in NOT_IMPORTED:
                names.append(module.name)
    return names
