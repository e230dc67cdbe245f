"""The settings tree: defaults, validation to warnings, documentation."""

from __future__ import annotations

from ghostwright.server.config import Settings, client_settings, parse_settings, setting_docs


def test_defaults_need_no_configuration():
    settings = Settings()
    assert settings.model == "auto" and settings.backend == "llama_cpp"
    assert settings.prompt_format == "auto"


def test_valid_values_apply_and_dashes_are_accepted():
    settings, warnings = parse_settings({"max-lines": 3, "prompt_format": "codellama"})
    assert warnings == []
    assert settings.max_lines == 3 and settings.prompt_format == "codellama"


def test_invalid_values_warn_once_each_and_keep_defaults():
    settings, warnings = parse_settings(
        {"max_lines": 0, "threads": "four", "backend": "cloud", "colour": "blue", "model": 3}
    )
    assert settings == Settings()
    assert len(warnings) == 5
    assert any("unknown setting 'colour'" in warning for warning in warnings)
    assert any("'cloud' is not one of llama_cpp, openai" in warning for warning in warnings)


def test_booleans_are_not_integers():
    settings, warnings = parse_settings({"threads": True})
    assert settings.threads == 0 and warnings


def test_every_setting_is_documented():
    docs = setting_docs()
    derived = {"installed_student"}  # filled in from the install records, never by the user
    assert {name for name, _, _ in docs} == set(Settings.__dataclass_fields__) - derived
    assert all(description for _, _, description in docs)


def test_a_derived_value_cannot_be_set_by_the_user():
    settings, warnings = parse_settings({"installed_student": "/somewhere"})
    assert settings.installed_student == "" and warnings == [
        "unknown setting 'installed_student' ignored"
    ]


def test_index_settings_are_validated():
    from ghostwright.server.config import parse_settings

    settings, warnings = parse_settings(
        {"retrieval": False, "index_exclude": ["vendor/", "*.min.js"], "retrieval_tokens": 0}
    )
    assert warnings == []
    assert settings.retrieval is False and settings.index_exclude == ("vendor/", "*.min.js")
    settings, warnings = parse_settings(
        {"retrieval": "yes", "index_include": "src/", "index_max_kb": 0}
    )
    assert len(warnings) == 3
    assert (
        settings.retrieval is True and settings.index_include == () and settings.index_max_kb == 512
    )


def test_editor_settings_flat_nested_or_an_empty_lua_table():
    assert client_settings({"max_lines": 2}) == {"max_lines": 2}
    assert client_settings({"ghostwright": {"max_lines": 2}}) == {"max_lines": 2}
    # Lua encodes an empty table as a JSON array: no settings, and no "unknown setting" warning.
    assert client_settings({"ghostwright": []}) == {}
    assert client_settings([]) == {} and client_settings(None) == {}
