"""The wheel `pip install .` builds: installed (not editable) into a fresh virtual
environment, it is a whole portal. Run from a folder outside the checkout, it serves the
public and patient pages, the static files and a statement PDF (its fonts), and writes the
reminder e-mails, all with the embedded defaults (SQLite, sandbox payments, outbox mail).

Built with `uv build --wheel` (hatchling, as pip builds it); the runtime dependencies are
installed at the versions uv.lock pins, from uv's cache when it has them.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def files(folder: str) -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file())


TEMPLATES = files("templates")
STATIC = files("static")
MAX_WHEEL_BYTES = 2_000_000

# Runs in the wheel's environment after `portal migrate` and `portal demo`.
CHILD = r"""
import re, sys
from pathlib import Path

import portal
from portal import create_app

checkout, site_packages = sys.argv[1:3]
assert Path(portal.__file__).resolve().is_relative_to(site_packages), portal.__file__
assert checkout not in [str(Path(p).resolve()) for p in sys.path], sys.path

app = create_app()
app.config["WTF_CSRF_ENABLED"] = False  # the form posts below carry no token
client = app.test_client()

def get(path, text):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    assert text in response.data, (path, response.data[:500])
    return response

get("/", b"Demo Family Practice")
get("/faq", b"</html>")
get("/pay", b'name="account_number"')
spanish = client.get("/pay", headers={"Accept-Language": "es"})
assert "Pague su factura" in spanish.text, spanish.text[:500]  # the catalog in the wheel
get("/static/portal.css", b"{")
signed_in = client.post(
    "/pay",
    data={"account_number": "100318", "last_name": "O'Brien", "date_of_birth": "1990-01-08"},
)
assert signed_in.status_code == 303, (signed_in.status_code, signed_in.text[:500])
account = get("/account", b"100318").text
statement_id = re.search(r'href="/statements/([^"/.]+)"', account).group(1)
get(f"/statements/{statement_id}", b"Download PDF")
pdf = get(f"/statements/{statement_id}.pdf", b"%PDF").data
assert b"DejaVu" in pdf, "the statement PDF has not embedded its font"
print("pages ok")
"""


def run(command: list, cwd: Path, env: dict, timeout: float = 120) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv")
    assert found, "uv is needed to build and install the wheel"
    return found


@pytest.fixture(scope="module")
def clean_env() -> dict:
    """This process's environment without anything that points at the checkout's venv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PORTAL_", "STRIPE_", "AWS_", "VIRTUAL_ENV", "PYTHON", "UV_"))
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@pytest.fixture(scope="module")
def wheel(uv: str, clean_env: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([uv, "build", "--wheel", "--out-dir", out, ROOT], cwd=out, env=clean_env)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(uv: str, wheel: Path, clean_env: dict, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and the locked runtime dependencies."""
    folder = tmp_path_factory.mktemp("wheel-venv")
    venv = folder / "venv"
    requirements = folder / "requirements.txt"
    run(
        [
            *(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"),
            *("--output-file", requirements),
        ],
        cwd=ROOT,
        env=clean_env,
    )
    base_python = getattr(sys, "_base_executable", sys.executable)
    run([uv, "venv", "--quiet", "--python", base_python, venv], cwd=folder, env=clean_env)
    run(
        [
            *(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python"),
            *("--requirements", requirements, wheel),
        ],
        cwd=folder,
        env=clean_env,
        timeout=300,
    )
    return venv


def test_wheel_carries_the_templates_and_static_files(wheel: Path, record_property) -> None:
    size = wheel.stat().st_size
    record_property("wheel_bytes", size)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [name for name in TEMPLATES + STATIC if f"portal/{name}" not in names]
    assert not missing, f"missing from the wheel: {missing}"
    assert len(TEMPLATES) > 40 and "static/fonts/DejaVuSans.ttf" in STATIC
    assert "portal/translations/es/LC_MESSAGES/messages.mo" in names  # compiled at install
    assert "portal/bootstrap.py" in names and "functions/reminders.py" in names
    assert not [n for n in names if n.startswith(("tests/", "templates/", "static/", "docs/"))]
    assert size < MAX_WHEEL_BYTES, f"the wheel is {size / 1e6:.1f} MB"


def test_installed_wheel_serves_pages_and_sends_mail(
    installed: Path, clean_env: dict, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert not outside.resolve().is_relative_to(ROOT)
    env = {
        **clean_env,
        "PORTAL_SQLITE_PATH": str(outside / "var" / "portal.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(outside / "var" / "outbox"),
    }
    python = installed / "bin" / "python"
    portal = installed / "bin" / "portal"
    site_packages = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=outside,
        env=env,
    ).strip()

    run([portal, "migrate"], cwd=outside, env=env)
    assert "Demo data: 25 accounts" in run([portal, "demo"], cwd=outside, env=env)
    assert "pages ok" in run([python, "-c", CHILD, ROOT, site_packages], cwd=outside, env=env)

    summary = run(
        [portal, "reminders", "--as-of", datetime.now(UTC).date().isoformat()], cwd=outside, env=env
    )
    assert "sent=" in summary and "sent=0 " not in summary, summary
    mails = list((outside / "var" / "outbox").glob("*.eml"))
    assert mails, "no reminder e-mail was written"
    assert any(b"Demo Family Practice" in mail.read_bytes() for mail in mails)

    built = outside / "site"
    run([portal, "build-static", "--out", built], cwd=outside, env=env)
    assert (built / "index.html").is_file() and (built / "static" / "portal.css").is_file()
