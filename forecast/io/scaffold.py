"""Templates for ``forecast init``: the shipped Russia–China project, or a blank one."""

from __future__ import annotations

from pathlib import Path

#: The shipped project lives at the repository root, beside the package.
SHIPPED_PROJECT = Path(__file__).resolve().parents[2]

BLANK_FILES: dict[str, str] = {
    "priors/project.yaml": """\
schema_version: 1
name: My forecast
description: >
  What question the scenarios answer, over which horizon.
start: {value: 2020Q1, rationale: "The first quarter from which evidence is coded."}
as_of: {value: today, rationale: "Use all evidence known in the current quarter."}
horizon: {value: 2030Q4, rationale: "The quarter in which the scenarios resolve."}
interval_mass: {value: 0.8, rationale: "80% intervals, tails a few thousand draws estimate well."}
future_nodes: {value: 256, rationale: "Quasi-random nodes that average the drivers' future drift."}
""",
    "priors/scenarios.yaml": """\
schema_version: 1
scenarios:
  - id: status_quo
    name: The status quo holds
    description: Things at the horizon look much as they do now.
    resolution: What observable state at the horizon counts as this scenario.
    baseline: 0.6
    rationale: Why this is the probability when every driver stands at its norm.
  - id: change
    name: The status quo breaks
    description: Things at the horizon differ markedly from now.
    resolution: What observable state at the horizon counts as this scenario.
    baseline: 0.4
    rationale: Why this is the probability when every driver stands at its norm.
offset_scale: {value: 0.5, rationale: "How far the scenario offsets may stray from the baselines."}
""",
    "priors/drivers.yaml": """\
schema_version: 1
drivers:
  - id: pressure
    name: Pressure for change
    description: A latent force; 0 is its long-run norm, +1 one strong step above it.
    initial: {between: [-1.0, 1.0], mass: 0.9, rationale: "Where it stood in the start quarter."}
    trend: {mu: 0.0, sigma: 0.02, rationale: "No drift expected a priori."}
    volatility: {sigma: 0.1, rationale: "Quarter-to-quarter wobble of about a tenth of a step."}
    innovations: {family: normal, rationale: "Gradual change, no jumps."}
""",
    "priors/theory.yaml": """\
schema_version: 1
default: {mu: 0.0, sigma: 0.3, rationale: "Cells not listed: no expected effect."}
cells:
  - {scenario: change, driver: pressure, mu: 1.0, sigma: 0.4,
     rationale: "More pressure makes a break more likely."}
interactions:
  enabled: {value: false, rationale: "No interaction terms."}
  terms: []
""",
    "priors/measurement.yaml": """\
schema_version: 1
reliability: {A: 1.0, B: 0.8, C: 0.6, D: 0.4, E: 0.2, F: 0.5,
              rationale: "Admiralty source reliability weights (MODEL.md defaults)."}
credibility: {1: 1.0, 2: 0.8, 3: 0.6, 4: 0.4, 5: 0.2, 6: 0.5,
              rationale: "Admiralty information credibility weights (MODEL.md defaults)."}
ordinal:
  kappa: {value: 2.0, rationale: "How sharply scores track the driver."}
  cutpoints: {value: [-1.5, -0.5, 0.5, 1.5], rationale: "Evenly spaced score boundaries."}
ratings: {CC: 0.95, C: 0.80, N: 0.50, I: 0.20, II: 0.05,
          rationale: "ACH likelihoods (MODEL.md defaults)."}
""",
    "priors/sampling.yaml": """\
schema_version: 1
sampler:
  backend: {value: numpyro, rationale: "The fastest backend that passes the gate."}
  draws: {value: 1500, rationale: "6000 draws keep R-hat of every parameter clear of 1.01."}
  tune: {value: 500, rationale: "Enough adaptation for the non-centred walks."}
  chains: {value: 4, rationale: "Four chains make R-hat meaningful."}
  target_accept: {value: 0.95, rationale: "Small steps avoid divergences in the random walks."}
  seed: {value: 1, rationale: "Fixed, so reruns give identical draws."}
gate:
  rhat_max: {value: 1.01, rationale: "MODEL.md section 5."}
  ess_bulk_min: {value: 400, rationale: "MODEL.md section 5."}
  ess_tail_min: {value: 400, rationale: "MODEL.md section 5."}
  divergences_max: {value: 0, rationale: "MODEL.md section 5."}
  ebfmi_min: {value: 0.3, rationale: "MODEL.md section 5."}
  mcse_q_max: {value: 0.005, rationale: "MODEL.md section 5."}
""",
    "evidence/.gitkeep": "",
    "reports/.gitkeep": "",
}

GITIGNORE = "runs/\n.forecast.lock\n"


def shipped_files() -> dict[str, bytes]:
    """The shipped project's priors/ and evidence/ files, relative path -> bytes."""
    if not (SHIPPED_PROJECT / "priors").is_dir():
        return {}
    out: dict[str, bytes] = {}
    for folder in ("priors", "evidence"):
        for path in sorted((SHIPPED_PROJECT / folder).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                out[path.relative_to(SHIPPED_PROJECT).as_posix()] = path.read_bytes()
    return out


def write_project(directory: Path, *, blank: bool) -> int:
    """Create a project in ``directory`` (absent or empty); return the number of files written.

    Files are written into a temporary sibling folder that is renamed into place at the end, so a
    failure leaves nothing behind.
    """
    import shutil
    import tempfile

    from forecast.errors import ForecastError

    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ForecastError(f"{directory} exists and is not empty; choose a new folder")
    files: dict[str, bytes] = (
        {k: v.encode() for k, v in BLANK_FILES.items()} if blank else shipped_files()
    )
    if not files:
        raise ForecastError(
            "the shipped project is not available in this installation; "
            "use --blank, or install forecast from its repository"
        )
    files.setdefault(".gitignore", GITIGNORE.encode())
    files.setdefault("reports/.gitkeep", b"")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for rel, data in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if directory.exists():
            directory.rmdir()
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(files)
