"""portal.resources: one answer to "where are the templates (and static files)"."""

from pathlib import Path

import pytest

from portal import resources

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_the_folders_at_the_top_of_the_repository():
    assert resources.template_dir() == ROOT / "templates"
    assert resources.static_dir() == ROOT / "static"


def test_the_folder_inside_the_package_comes_first(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "portal"
    (package / "templates").mkdir(parents=True)
    (tmp_path / "site-packages" / "templates").mkdir()  # another project's, not ours
    monkeypatch.setattr(resources, "PACKAGE_DIR", package)
    assert resources.template_dir() == package / "templates"


def test_a_missing_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "PACKAGE_DIR", tmp_path / "portal")
    with pytest.raises(FileNotFoundError, match=r"No static/ folder"):
        resources.static_dir()


def test_the_translations_sit_next_to_the_templates():
    assert resources.translations_dir() == ROOT / "translations"
    assert (resources.translations_dir() / "es" / "LC_MESSAGES" / "messages.po").is_file()
