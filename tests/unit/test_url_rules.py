"""The portal's URL rules compile their url_for builders on first use (portal/app.py
PortalRule), and build exactly what werkzeug's own rules build."""

from werkzeug.routing import Map, Rule

from portal.app import PortalRule, create_app

RULES = [
    ("/", {}),
    ("/statements/<statement_id>", {}),
    ("/staff/accounts/<account_number>/payments/<int:payment_id>", {}),
    ("/files/<path:name>", {}),
    ("/pages/<int:page>", {"page": 1}),
]
VALUES = [
    ("r0", {}),
    ("r0", {"next": "/pay?x=1 2"}),
    ("r1", {"statement_id": "S-2026/00ü1"}),
    ("r2", {"account_number": "100 200", "payment_id": 7, "sort": ["a", "b"]}),
    ("r3", {"name": "a/b c.pdf"}),
    ("r4", {}),
]


def url_map(rule_class: type[Rule]) -> Map:
    return Map(
        [
            rule_class(path, endpoint=f"r{i}", defaults=defaults or None)
            for i, (path, defaults) in enumerate(RULES)
        ]
    )


def test_builds_the_urls_werkzeug_builds() -> None:
    portal = url_map(PortalRule).bind("portal.example.org", script_name="/practice")
    plain = url_map(Rule).bind("portal.example.org", script_name="/practice")
    for endpoint, values in VALUES * 2:  # the first build compiles; the second reuses
        for force_external in (False, True):
            built = portal.build(endpoint, dict(values), force_external=force_external)
            assert built == plain.build(endpoint, dict(values), force_external=force_external)


def test_a_builder_is_compiled_on_first_use_only() -> None:
    [rule] = url_map(PortalRule).iter_rules("r1")
    assert rule._build.__name__ == "build_on_first_use"
    assert rule._build_unknown.__name__ == "build_on_first_use"
    assert rule.build({"statement_id": "S-1", "q": "x"}) == ("", "/statements/S-1?q=x")
    assert rule._build_unknown.__name__ != "build_on_first_use"  # compiled and kept
    assert rule._build.__name__ == "build_on_first_use"  # never asked for: never compiled
    assert rule.build({"statement_id": "S-2"}, append_unknown=False) == ("", "/statements/S-2")
    assert rule._build.__name__ != "build_on_first_use"


def test_the_app_uses_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_SQLITE_PATH", str(tmp_path / "portal.sqlite3"))
    monkeypatch.setenv("PORTAL_OUTBOX_DIR", str(tmp_path / "outbox"))
    app = create_app()
    assert app.url_rule_class is PortalRule
    assert all(type(rule) is PortalRule for rule in app.url_map.iter_rules())
