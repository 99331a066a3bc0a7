"""Where the templates, the static files and the translations are, however the portal is
installed.

They stay at the top of the repository (templates/, static/, translations/). A checkout and
the Lambda zip (Zappa copies the project folder) have them next to the package;
the wheel carries them inside it, as portal/templates, portal/static and portal/translations
(pyproject.toml force-includes them).
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` (templates, static or translations): inside the package when
    installed from the wheel, else next to it."""
    for folder in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"No {name}/ folder in {PACKAGE_DIR} or next to it: the portal is installed without "
        "its files (build the wheel with pyproject.toml's force-include)."
    )


def template_dir() -> Path:
    """The Jinja2 templates: pages, e-mails, the public site and the practice's details."""
    return resource_dir("templates")


def static_dir() -> Path:
    """The static files: CSS, JavaScript, the icon and the statement PDF's fonts."""
    return resource_dir("static")


def translations_dir() -> Path:
    """The gettext catalogs: translations/<language>/LC_MESSAGES/<domain>.po, and the .mo
    files compiled from them at install (make translations)."""
    return resource_dir("translations")
