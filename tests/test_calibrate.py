"""``forecast calibrate`` and forecast.calibration (MODEL.md §6.3).

Most tests replace NUTS by draws from the prior, which ignore the evidence and so are calibrated
by construction (the rank of one prior draw among others is uniform); shifting them makes a
mis-calibrated fit that must fail. One test runs real NUTS on a tiny project.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from forecast.calibration import (
    FitSettings,
    calibrate,
    quantity_names,
    sbc_structure,
    simulate,
)
from forecast.cli import main
from forecast.prior_forecast import simulate_prior
from tests.model_factory import make_evidence, make_priors


def _tiny():
    priors = make_priors(n_scenarios=2, n_drivers=2, n_quarters=6, h=4, n_nodes=16)
    evidence = make_evidence(
        priors,
        codings=[(0, 1, 1, 0.5), (1, 5, -2, 1.0), (0, 5, 0, 0.8)],
        ratings=[({0: "CC"}, 1.0)],
        indicator=(1, [(2, 0.1), (5, 0.3)]),
    )
    return priors, evidence


def prior_fit(priors, evidence, truth, settings, rng):
    """Posterior draws replaced by prior draws: calibrated, whatever the evidence."""
    return simulate_prior(priors, settings.rank_draws, seed=int(rng.integers(2**31)))


def shifted_fit(priors, evidence, truth, settings, rng):
    """Prior draws with the trend shifted by one prior sd: ranks of mu pile up low."""
    draws = prior_fit(priors, evidence, truth, settings, rng)
    draws["mu"] = draws["mu"] + priors.trend_sigma
    return draws


def test_simulated_evidence_keeps_the_structure() -> None:
    priors, evidence = _tiny()
    structure = sbc_structure(evidence)
    assert structure.n_rated == 0
    assert np.all(structure.coding_weight == 1.0)
    truth, sim = simulate(priors, structure, np.random.default_rng(3))
    assert np.array_equal(sim.coding_driver, evidence.coding_driver)
    assert np.array_equal(sim.coding_quarter, evidence.coding_quarter)
    assert np.array_equal(sim.obs_quarter, evidence.obs_quarter)
    assert sim.coding_category.shape == evidence.coding_category.shape
    assert set(sim.coding_category) <= set(range(5))
    assert sim.obs_value.shape == evidence.obs_value.shape
    assert np.all(np.isfinite(sim.obs_value))
    assert truth["x"].shape == (1, 2, 6)
    _, again = simulate(priors, structure, np.random.default_rng(3))
    assert np.array_equal(again.coding_category, sim.coding_category)
    assert np.array_equal(again.obs_value, sim.obs_value)


def test_codings_follow_the_ordered_logistic() -> None:
    """Many codings of one quarter: category frequencies match the model's probabilities."""
    priors, _ = _tiny()
    n = 20_000
    structure = sbc_structure(
        make_evidence(priors, codings=[(0, 2, 0, 1.0)] * n, indicator=(1, [(2, 0.0)]))
    )
    truth, sim = simulate(priors, structure, np.random.default_rng(5))
    latent = priors.kappa * truth["x"][0, 0, 2]
    cdf = 1 / (1 + np.exp(-(np.concatenate([priors.cutpoints, [np.inf]]) - latent)))
    expected = np.diff(np.concatenate([[0.0], cdf]))
    observed = np.bincount(sim.coding_category, minlength=5) / n
    assert np.allclose(observed, expected, atol=0.015)


def test_calibrated_fit_passes_and_shifted_fit_fails() -> None:
    priors, evidence = _tiny()
    settings = FitSettings(rank_draws=49)
    good = calibrate(priors, evidence, n_sims=100, seed=1, settings=settings, fit=prior_fit)
    assert good.names == quantity_names(priors)
    assert good.pit.shape == (100, 8)
    assert good.ranks.min() >= 0 and good.ranks.max() <= 49
    assert good.passed
    bad = calibrate(priors, evidence, n_sims=100, seed=1, settings=settings, fit=shifted_fit)
    assert not bad.passed
    failed = {n for n, ok in zip(bad.names, bad.passed_each, strict=True) if not ok}
    assert failed == {"mu[d0]", "mu[d1]"}


def test_family_band_is_wider_than_the_95_band() -> None:
    priors, evidence = _tiny()
    cal = calibrate(priors, evidence, n_sims=20, seed=2, fit=prior_fit)
    assert cal.band_prob == pytest.approx(1 - 0.05 / 8)
    # inside the 95% band implies inside the wider one
    assert np.all(cal.passed_each[cal.inside_95])


@pytest.fixture
def prior_nuts(monkeypatch: pytest.MonkeyPatch):
    """Replace forecast.sampling.sample_groups by prior draws (mu shifted by ``shift`` sds)."""
    import arviz as az

    import forecast.sampling

    state = {"shift": 0.0, "fits": 0, "fail_at": None}

    def sample(priors, evidence, *, draws, chains, seed, **kwargs):
        state["fits"] += 1
        if state["fits"] == state["fail_at"]:
            raise RuntimeError("worker lost")
        sim = simulate_prior(priors, draws * chains, seed=seed)
        sim["mu"] = sim["mu"] + state["shift"] * priors.trend_sigma
        post = {k: sim[k].reshape(chains, draws, *sim[k].shape[1:]) for k in ("x", "mu", "sigma")}
        post["p"] = sim["p"].reshape(chains, draws, -1)
        stats = {"diverging": np.zeros((chains, draws), dtype=bool)}
        return az.from_dict(posterior=post, sample_stats=stats)

    monkeypatch.setattr(forecast.sampling, "sample_groups", sample)
    return state


FAST = ["--draws", "60", "--tune", "0", "--chains", "1", "--rank-draws", "29"]


def test_cli_writes_summary_plot_and_table(project: Path, prior_nuts, tmp_path: Path) -> None:
    out = tmp_path / "sbc"
    args = ["calibrate", "--project", str(project), "--sims", "40", "--out", str(out), *FAST]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Simulation-based calibration: 40 simulations" in result.output
    for name in ("x_as_of[us_threat]", "mu[power_asymmetry]", "sigma[leader_affinity]"):
        assert name in result.output
    assert "p[entente]" in result.output
    assert "Calibration passed" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True
    assert summary["sims"] == 40
    assert summary["codings"] == 65 and summary["indicator_observations"] == 12
    assert len(summary["quantities"]) == 16
    assert summary["settings"]["rank_draws"] == 29
    assert (out / "sbc_ecdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "sims.jsonl").read_text().splitlines()) == 41  # header + one per sim
    assert "| p[entente] |" in (out / "summary.md").read_text()

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1
    assert "already holds" in again.output and "--force" in again.output


def test_cli_json_and_failure_exit(project: Path, prior_nuts, tmp_path: Path) -> None:
    prior_nuts["shift"] = 1.5
    out = tmp_path / "sbc"
    args = ["calibrate", "--project", str(project), "--sims", "40", "--out", str(out), "--json"]
    result = CliRunner().invoke(main, [*args, *FAST])
    assert result.exit_code == 1
    payload = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert payload["passed"] is False
    assert payload["quantities"]["mu[us_threat]"]["passed"] is False
    assert payload["quantities"]["x_as_of[us_threat]"]["passed"] is True
    assert "calibration failed for mu[us_threat]" in result.output
    assert (out / "summary.json").exists()


def test_cli_resume_runs_only_the_missing_sims(project: Path, prior_nuts, tmp_path: Path) -> None:
    out = tmp_path / "sbc"
    args = ["calibrate", "--project", str(project), "--out", str(out), "--json", *FAST]
    first = CliRunner().invoke(main, [*args, "--sims", "12"])
    assert first.exit_code == 0, first.output
    prior_nuts["fits"] = 0
    resumed = CliRunner().invoke(main, [*args, "--sims", "20", "--resume"])
    assert resumed.exit_code in (0, 1), resumed.output
    assert prior_nuts["fits"] == 8
    payload = json.loads(resumed.stdout[: resumed.stdout.rindex("}") + 1])
    assert payload["sims"] == 20 and payload["resumed"] == 12
    fresh = tmp_path / "fresh"
    again = CliRunner().invoke(
        main, [*args[:3], "--out", str(fresh), "--json", *FAST, "--sims", "20"]
    )
    fresh_pit = json.loads(again.stdout[: again.stdout.rindex("}") + 1])
    assert fresh_pit["quantities"] == payload["quantities"]  # same seeds, same ranks

    other = CliRunner().invoke(main, [*args, "--sims", "20", "--resume", "--seed", "9"])
    assert other.exit_code == 1
    assert "other settings" in other.output


def test_cli_dask_without_dask_is_a_usage_error(
    project: Path, prior_nuts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecast import executor

    monkeypatch.setattr(executor, "available", lambda name: name == "local")
    out = tmp_path / "sbc"
    args = ["calibrate", "--project", str(project), "--out", str(out), "--executor", "dask"]
    result = CliRunner().invoke(main, [*args, "--sims", "4", *FAST])
    assert result.exit_code == 2, result.output
    assert "pip install 'forecast[dask]'" in " ".join(result.output.split())
    assert not out.exists()


def test_cli_failed_simulation_keeps_the_others(project: Path, prior_nuts, tmp_path: Path) -> None:
    out = tmp_path / "sbc"
    args = ["calibrate", "--project", str(project), "--out", str(out), "--sims", "10", *FAST]
    prior_nuts["fail_at"] = 4
    failed = CliRunner().invoke(main, args)
    assert failed.exit_code == 1
    assert "RuntimeError: worker lost" in failed.output
    assert "9 finished simulations" in failed.output and "--resume" in failed.output
    assert len((out / "sims.jsonl").read_text().splitlines()) == 10
    prior_nuts["fits"], prior_nuts["fail_at"] = 0, None
    resumed = CliRunner().invoke(main, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert prior_nuts["fits"] == 1


@pytest.mark.sampling
def test_real_fits_on_a_tiny_project() -> None:
    priors, evidence = _tiny()
    settings = FitSettings(draws=100, tune=100, chains=1, target_accept=0.9, rank_draws=49)
    seen = []
    cal = calibrate(
        priors,
        evidence,
        n_sims=6,
        seed=4,
        settings=settings,
        on_result=lambda task, result: seen.append(task.index),
    )
    assert sorted(seen) == list(range(6))
    assert cal.ranks.shape == (6, 8)
    assert cal.ranks.min() >= 0 and cal.ranks.max() <= 49
    assert cal.fit_seconds > 0
    assert cal.meta["codings"] == 3 and cal.meta["indicator_observations"] == 2
