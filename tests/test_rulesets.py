import json
from pathlib import Path

import jsonschema
import pytest

from kpi_engine import load_ruleset
from kpi_engine.attribution import policy_schema
from kpi_engine.language._yaml import load_yaml
from kpi_engine.language.schema import ruleset_schema
from kpi_engine.testing import assert_cases_pass

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "rulesets").glob("*.yaml"))


def test_the_three_seed_rulesets_are_shipped():
    """S1, S2 and S4/S5 rulesets are in rulesets/."""
    assert {p.name for p in SHIPPED} >= {
        "sales_rep_monthly.yaml",
        "sales_supervisor_quarterly.yaml",
        "sales_department.yaml",
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_ruleset_loads_without_errors_or_warnings(path):
    """Every shipped ruleset is valid and has no warnings."""
    assert load_ruleset(path).warnings == ()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_ruleset_cases_pass(path):
    """The cases embedded in every shipped ruleset pass (and there are some)."""
    assert len(assert_cases_pass(path)) >= 2


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_ruleset_matches_the_json_schema(path):
    """The JSON Schema an editor uses accepts every shipped ruleset."""
    data, _, issues = load_yaml(path.read_text(encoding="utf-8"))
    assert issues == []
    jsonschema.validate(json.loads(json.dumps(data, default=str)), ruleset_schema())


def test_json_schema_rejects_an_unknown_key():
    """The schema is strict: a misspelt key fails in the editor too."""
    data, _, _ = load_yaml(SHIPPED[0].read_text(encoding="utf-8"))
    data["kpiz"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(data, default=str)), ruleset_schema())


def test_committed_schemas_are_fresh():
    """schema/*.json equal what `kpi schema` generates now (regenerate with `kpi schema --out`)."""
    ruleset = json.loads((ROOT / "schema/ruleset.schema.json").read_text(encoding="utf-8"))
    policy = json.loads((ROOT / "schema/policy.schema.json").read_text(encoding="utf-8"))
    assert ruleset == ruleset_schema()
    assert policy == json.loads(json.dumps(policy_schema()))


def test_example_policy_matches_its_schema():
    """The shipped attribution policy validates against the policy schema."""
    data, _, _ = load_yaml((ROOT / "examples/attribution/policy.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(data, policy_schema())


def test_generated_reference_is_fresh():
    """docs/reference.md equals what `kpi schema --reference` generates now."""
    from kpi_engine.language.schema import reference_markdown

    assert (ROOT / "docs/reference.md").read_text(encoding="utf-8") == reference_markdown()


def test_readme_tutorial_ruleset_is_valid_and_its_case_passes():
    """The ruleset in the README's tutorial loads and its embedded case passes."""
    from kpi_engine import parse_ruleset
    from kpi_engine.evaluation.cases import run_cases

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Five-minute tutorial", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    results = run_cases(parse_ruleset(block, "README.md"))
    assert [r.passed for r in results] == [True]
