"""Every benchmark scenario, end to end at a tiny size, so none rots while the code it measures moves.

No timing is asserted (speed targets live in `python -m bench`, never in timed tests). What is
asserted: a scenario whose subject code imports produces real figures (finite, positive, ratios
that are value / baseline), and one whose subject has not landed says "not available yet" rather
than a number. The scenarios' own checks run too (the filter really filters, every contact save is
in the file, the report's hand-written baseline counts what the report counts).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import results
from bench.__main__ import build_parser
from bench.__main__ import main as bench_main
from bench.core import PROFILES, Context, Figure, percentile
from bench.scenarios import SCENARIO_MODULES, load


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory) -> Path:
    """Generated databases shared by this module's tests (never the developer's bench/.cache)."""
    return tmp_path_factory.mktemp("bench-cache")


@pytest.mark.parametrize("module_name", SCENARIO_MODULES)
def test_scenario_runs_at_tiny_size(module_name: str, bench_cache: Path, tmp_path: Path) -> None:
    scenario = load(module_name)
    ctx = Context(PROFILES["tiny"], cache_dir=bench_cache, work_dir=tmp_path / "work")
    figures = scenario.run(ctx)
    assert figures, f"{module_name} returned no figures"
    missing = scenario.subject_missing()
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure.scenario == scenario.NAME
        if missing is not None:
            assert not figure.available and figure.value is None
            assert figure.note.startswith("not available yet")
            continue
        assert figure.available, f"{module_name}: {figure.note}"
        assert figure.value is not None and math.isfinite(figure.value) and figure.value > 0, figure
        if figure.baseline is not None:
            assert figure.baseline > 0 and figure.ratio is not None and figure.ratio > 0
        if figure.target:
            assert figure.holds in (True, False, None)
        assert "DISAGREE" not in figure.note, figure.note


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 95) == 95.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    with pytest.raises(ValueError):
        percentile([], 95)


def test_results_file_keeps_other_scenarios_and_says_what_is_missing(tmp_path: Path) -> None:
    json_path = tmp_path / "results.json"
    machine = {"cores": "2", "memory": "1 GiB"}
    first = Figure("startup", "launch (median)", "s", 0.9, 0.6, "bare app", 1.5, "≤ 1.5×", True, samples=3)
    results.record("small", {"startup": [first]}, machine, json_path)
    later = Figure("merge", "import rate", available=False, note="not available yet: no sync service")
    document = results.record("small", {"merge": [later]}, machine, json_path)
    text = results.render(document, ["startup", "merge"], findings=tmp_path / "none.md")
    assert "| startup | launch (median) | 0.900 s | 0.600 s (bare app) | 1.50× | ≤ 1.5× | **holds** |" in text
    assert "not available yet" in text
    assert "| cores | 2 |" in text


def test_cli_refuses_an_unknown_scenario(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["no-such-scenario"])
    assert exit_info.value.code == 2
    assert "unknown scenario 'no-such-scenario'" in capsys.readouterr().err


def test_a_plain_run_records_nothing_unless_asked() -> None:
    parser = build_parser(["report"])
    assert parser.parse_args([]).record is False
    assert parser.parse_args(["--profile", "large"]).record is False
    assert parser.parse_args(["--profile", "large", "--record"]).record is True


def test_the_tiny_profile_is_never_recorded(capsys) -> None:
    results_before = results.RESULTS_JSON.read_bytes(), results.RESULTS_MD.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["report", "--profile", "tiny", "--record"])
    assert exit_info.value.code == 2
    assert "never recorded" in capsys.readouterr().err
    assert (results.RESULTS_JSON.read_bytes(), results.RESULTS_MD.read_bytes()) == results_before
