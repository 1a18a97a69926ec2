from decimal import Decimal

from kpi_engine.language._yaml import load_yaml


def test_plain_numbers_are_exact_decimals_and_percents_stay_text():
    """0.15 loads as Decimal('0.15'), integers as int, and 90% as text for the number parser."""
    data, _, issues = load_yaml("a: 0.15\nb: 3\nc: 90%\n")
    assert data == {"a": Decimal("0.15"), "b": 3, "c": "90%"}
    assert isinstance(data["a"], Decimal)
    assert issues == []


def test_yaml11_booleans_like_on_and_yes_stay_text():
    """Only true/false are booleans; 'on', 'yes' and 'no' stay words."""
    data, _, _ = load_yaml("a: on\nb: yes\nc: true\nd: no\n")
    assert data == {"a": "on", "b": "yes", "c": True, "d": "no"}


def test_duplicate_keys_are_reported_with_line_and_column():
    """A repeated key is an issue at the second occurrence, not silently the last value."""
    _, _, issues = load_yaml("x: 1\ny: 2\nx: 3\n", "f.yaml")
    assert [(i.code, str(i.location)) for i in issues] == [("duplicate_key", "f.yaml:3:1")]


def test_aliases_and_tags_are_rejected():
    """Anchors/aliases (alias bombs) and explicit tags are refused."""
    _, _, issues = load_yaml("a: &x [1, 2]\nb: *x\nc: !!python/object:os.system x\n")
    assert {i.code for i in issues} == {"yaml_alias", "yaml_tag"}


def test_syntax_errors_are_located():
    """A YAML syntax error carries the line where the parser stopped."""
    data, _, issues = load_yaml("a: [1, 2\nb: 3\n", "bad.yaml")
    assert data is None
    assert issues[0].code == "yaml_syntax"
    assert issues[0].location is not None
    assert issues[0].location.line >= 2


def test_source_map_locates_nested_values():
    """The source map gives the line and column of a nested list item."""
    _, smap, _ = load_yaml("kpis:\n  - id: a\n    weight: 40%\n")
    loc = smap.locate(("kpis", 0, "weight"))
    assert (loc.line, loc.col) == (3, 13)


def test_hostile_documents_fail_fast_with_an_issue():
    """Deep nesting, an oversized document and alias fan-out give located issues, not crashes."""
    _, _, deep = load_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n")
    _, _, big = load_yaml("x: " + "y" * 5_000_000 + "\n")
    _, _, fan = load_yaml("a: &a [1, 2]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n")
    assert [i.code for i in deep] == ["yaml_size"]
    assert [i.code for i in big] == ["yaml_size"]
    assert {i.code for i in fan} == {"yaml_alias"}


def test_a_document_nested_past_the_limit_is_yaml_size_whoever_refuses_it_first(monkeypatch):
    """Flow nesting past MAX_DEPTH is the project's yaml_size even when the YAML parser refuses it first."""
    import yaml

    from kpi_engine.language import _yaml

    def parser_with_its_own_limit(_text):
        raise yaml.scanner.ScannerError("while scanning", None, "nested too deep for this parser", None)

    monkeypatch.setattr(_yaml, "_compose", parser_with_its_own_limit)
    deep = "a: 1\nb: " + "[" * (_yaml.MAX_DEPTH + 1) + "]" * (_yaml.MAX_DEPTH + 1) + "\n"
    _, _, issues = load_yaml(deep, "deep.yaml")
    assert [(i.code, str(i.location)) for i in issues] == [("yaml_size", "deep.yaml:2:1")]
    _, _, shallow = load_yaml("a: [[1]\n", "bad.yaml")
    assert [i.code for i in shallow] == ["yaml_syntax"]
