"""Pydantic v2 schemas of every file in a project: priors/*.yaml, evidence items, indicator series.

The schemas check each file on its own (types, ranges, forms); cross-file checks (unknown ids,
duplicates, dates against the time grid) live in :mod:`forecast.io.project`.
"""

from __future__ import annotations

import itertools
import math
import re
from statistics import NormalDist
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from forecast.quarters import PartialDate, Quarter

SCHEMA_VERSION = 1

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


def _item_id(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"e\d{3,}", value):
        raise ValueError(
            f"{value!r} is not an item id: write 'e' and at least three digits, e.g. e017"
        )
    return value


ItemId = Annotated[str, AfterValidator(_item_id)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0)]
Positive = Annotated[float, Field(gt=0.0)]

RELIABILITY_GRADES = ("A", "B", "C", "D", "E", "F")
CREDIBILITY_GRADES = (1, 2, 3, 4, 5, 6)
RATINGS = ("CC", "C", "N", "I", "II")
SCORES = (-2, -1, 0, 1, 2)

Reliability = Literal["A", "B", "C", "D", "E", "F"]
Credibility = Literal[1, 2, 3, 4, 5, 6]
Rating = Literal["CC", "C", "N", "I", "II"]
Score = Literal[-2, -1, 0, 1, 2]

T = TypeVar("T")


class Strict(BaseModel):
    """Base of every schema: unknown fields are errors, NaN and infinities are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Setting(Strict, Generic[T]):
    """A single setting with the reason for its value."""

    value: T
    rationale: Text


# ---------------------------------------------------------------- prior distributions


def _one_of_two_forms(prior: BaseModel, moments: tuple[str, str]) -> None:
    """Check that a prior gives exactly its two moments, or ``between`` with ``mass``."""
    first, second = moments
    given = getattr(prior, first) is not None or getattr(prior, second) is not None
    between, mass = prior.between, prior.mass
    if given and (between is not None or mass is not None):
        raise ValueError(f"give either {first} and {second}, or between and mass, not both")
    if between is not None or mass is not None:
        if between is None or mass is None:
            raise ValueError("an interval prior needs both 'between: [low, high]' and 'mass'")
        if not between[0] < between[1]:
            raise ValueError(f"between {list(between)}: the low end must be below the high")
    elif getattr(prior, first) is None or getattr(prior, second) is None:
        raise ValueError(f"give {first} and {second}, or between: [low, high] and mass")


class NormalPrior(Strict):
    """A Normal prior, given as ``mu``/``sigma`` or as an interval ``between`` with ``mass``."""

    mu: float | None = None
    sigma: Positive | None = None
    between: tuple[float, float] | None = None
    mass: Probability | None = None
    rationale: Text

    @model_validator(mode="after")
    def _one_form(self) -> NormalPrior:
        _one_of_two_forms(self, ("mu", "sigma"))
        return self

    def params(self) -> tuple[float, float]:
        """Return (mu, sigma); an interval is converted by maximum entropy.

        Among Normals that put ``mass`` inside [low, high], the one with the largest entropy (the
        largest sigma) is centred on the interval, with sigma = (high - low) / (2 z).
        """
        if self.between is None:
            return float(self.mu), float(self.sigma)  # type: ignore[arg-type]
        low, high = self.between
        z = NormalDist().inv_cdf((1.0 + float(self.mass)) / 2.0)  # type: ignore[arg-type]
        return (low + high) / 2.0, (high - low) / (2.0 * z)


class HalfNormalPrior(Strict):
    """A HalfNormal prior, given as ``sigma`` or as ``below`` with ``mass``."""

    sigma: Positive | None = None
    below: Positive | None = None
    mass: Probability | None = None
    rationale: Text

    @model_validator(mode="after")
    def _one_form(self) -> HalfNormalPrior:
        if self.sigma is not None and (self.below is not None or self.mass is not None):
            raise ValueError("give either sigma, or below and mass, not both")
        if self.sigma is None and (self.below is None or self.mass is None):
            raise ValueError("give sigma, or 'below' and 'mass' (e.g. below: 0.3, mass: 0.9)")
        return self

    def params(self) -> float:
        """Return sigma; ``below``/``mass`` solves P(X < below) = mass exactly."""
        if self.sigma is not None:
            return float(self.sigma)
        z = NormalDist().inv_cdf((1.0 + float(self.mass)) / 2.0)  # type: ignore[arg-type]
        return float(self.below) / z  # type: ignore[arg-type]


class LogNormalPrior(Strict):
    """A LogNormal prior of a positive quantity: ``median``/``log_sd``, or ``between``/``mass``.

    Unlike a HalfNormal it puts no mass near zero, which keeps indicator slopes and noise scales
    away from the funnel at zero where a sampler cannot follow.
    """

    median: Positive | None = None
    log_sd: Positive | None = None
    between: tuple[Positive, Positive] | None = None
    mass: Probability | None = None
    rationale: Text

    @model_validator(mode="after")
    def _one_form(self) -> LogNormalPrior:
        _one_of_two_forms(self, ("median", "log_sd"))
        return self

    def params(self) -> tuple[float, float]:
        """Return (mu, sigma) of log X; an interval is converted by maximum entropy, in logs."""
        if self.between is None:
            return math.log(float(self.median)), float(self.log_sd)  # type: ignore[arg-type]
        low, high = (math.log(v) for v in self.between)
        z = NormalDist().inv_cdf((1.0 + float(self.mass)) / 2.0)  # type: ignore[arg-type]
        return (low + high) / 2.0, (high - low) / (2.0 * z)


# ---------------------------------------------------------------- priors/*.yaml


class ProjectFile(Strict):
    """priors/project.yaml: name, time grid and output settings."""

    schema_version: Literal[1]
    name: Text
    description: Text
    start: Setting[str]
    as_of: Setting[str]
    horizon: Setting[str]
    interval_mass: Setting[Probability]
    future_nodes: Setting[Annotated[int, Field(ge=1, le=65_536)]]

    @field_validator("start", "horizon")
    @classmethod
    def _quarter(cls, v: Setting[str]) -> Setting[str]:
        Quarter.parse(v.value)
        return v

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, v: Setting[str]) -> Setting[str]:
        if str(v.value).strip().lower() != "today":
            Quarter.parse(v.value)
        return v


class Scenario(Strict):
    """One mutually exclusive state of the world at the horizon."""

    id: Identifier
    name: Text
    description: Text
    resolution: Text
    baseline: Probability
    rationale: Text


class ScenariosFile(Strict):
    """priors/scenarios.yaml."""

    schema_version: Literal[1]
    scenarios: Annotated[list[Scenario], Field(min_length=2)]
    offset_scale: Setting[Positive]


class Innovations(Strict):
    """The distribution of a driver's quarterly innovations."""

    family: Literal["normal", "student_t"] = "normal"
    nu: Annotated[float, Field(gt=2.0, le=1000.0)] | None = None
    rationale: Text

    @model_validator(mode="after")
    def _nu(self) -> Innovations:
        if self.family == "student_t" and self.nu is None:
            raise ValueError("student_t innovations need 'nu' (degrees of freedom > 2), e.g. nu: 4")
        if self.family == "normal" and self.nu is not None:
            raise ValueError("'nu' only applies to family: student_t")
        return self


class Driver(Strict):
    """A latent driver with its random-walk priors."""

    id: Identifier
    name: Text
    description: Text
    initial: NormalPrior
    trend: NormalPrior
    volatility: HalfNormalPrior
    innovations: Innovations = Innovations(family="normal", rationale="default")


class DriversFile(Strict):
    """priors/drivers.yaml."""

    schema_version: Literal[1]
    drivers: Annotated[list[Driver], Field(min_length=1)]


class Cell(NormalPrior):
    """Prior of one theory-matrix entry beta[scenario, driver]."""

    scenario: Identifier
    driver: Identifier


class InteractionTerm(NormalPrior):
    """Prior of a pairwise interaction gamma[scenario, (driver, driver)]."""

    scenario: Identifier
    drivers: tuple[Identifier, Identifier]


class Interactions(Strict):
    """Optional pairwise interaction terms (MODEL.md §2.1)."""

    enabled: Setting[bool]
    terms: list[InteractionTerm] = []


class TheoryFile(Strict):
    """priors/theory.yaml: how drivers favour scenarios."""

    schema_version: Literal[1]
    default: NormalPrior
    cells: list[Cell] = []
    interactions: Interactions | None = None


class _Table(Strict):
    """A small table of numbers in (0, 1] keyed by grade, with a rationale beside the entries."""

    weights: dict[str | int, Annotated[float, Field(ge=0.0, le=1.0)]]
    rationale: Text

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        if isinstance(data, dict) and "weights" not in data:
            data = dict(data)
            rationale = data.pop("rationale", None)
            return {"weights": data, "rationale": rationale}
        return data


def _table_keys(table: _Table, expected: tuple) -> _Table:
    keys = set(table.weights)
    if keys != set(expected):
        missing = [k for k in expected if k not in keys]
        extra = [k for k in keys if k not in expected]
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(str, missing))}")
        if extra:
            parts.append(f"unknown {', '.join(map(str, extra))}")
        raise ValueError(
            f"{'; '.join(parts)}; the table needs exactly {', '.join(map(str, expected))}"
        )
    return table


class ReliabilityTable(_Table):
    """r(reliability): Admiralty source-reliability weights A-F."""

    @model_validator(mode="after")
    def _keys(self) -> ReliabilityTable:
        return _table_keys(self, RELIABILITY_GRADES)


class CredibilityTable(_Table):
    """c(credibility): Admiralty information-credibility weights 1-6."""

    @model_validator(mode="after")
    def _keys(self) -> CredibilityTable:
        return _table_keys(self, CREDIBILITY_GRADES)


class RatingsTable(_Table):
    """lambda(rating): the ACH likelihood of an item under a scenario for each rating."""

    @model_validator(mode="after")
    def _keys(self) -> RatingsTable:
        _table_keys(self, RATINGS)
        if any(v <= 0 for v in self.weights.values()):
            raise ValueError("every rating likelihood must be above 0 (its log is taken)")
        return self


class Ordinal(Strict):
    """The ordinal measurement model of driver codings."""

    kappa: Setting[Positive]
    cutpoints: Setting[Annotated[list[float], Field(min_length=4, max_length=4)]]

    @field_validator("cutpoints")
    @classmethod
    def _increasing(cls, v: Setting[list[float]]) -> Setting[list[float]]:
        c = v.value
        if any(b <= a for a, b in itertools.pairwise(c)):
            raise ValueError(f"cutpoints {c} must be strictly increasing")
        return v


class MeasurementFile(Strict):
    """priors/measurement.yaml: evidence weights and measurement models."""

    schema_version: Literal[1]
    reliability: ReliabilityTable
    credibility: CredibilityTable
    ordinal: Ordinal
    ratings: RatingsTable


class SamplerSettings(Strict):
    """Sampler defaults; the CLI may override each."""

    backend: Setting[Literal["numpyro", "pymc", "nutpie"]]
    draws: Setting[Annotated[int, Field(ge=10)]]
    tune: Setting[Annotated[int, Field(ge=0)]]
    chains: Setting[Annotated[int, Field(ge=1, le=64)]]
    target_accept: Setting[Annotated[float, Field(gt=0.5, lt=1.0)]]
    seed: Setting[Annotated[int, Field(ge=0, lt=2**32)]]


class GateSettings(Strict):
    """Thresholds of the diagnostics gate (MODEL.md §5)."""

    rhat_max: Setting[Annotated[float, Field(ge=1.0)]]
    ess_bulk_min: Setting[Annotated[float, Field(ge=0)]]
    ess_tail_min: Setting[Annotated[float, Field(ge=0)]]
    divergences_max: Setting[Annotated[int, Field(ge=0)]]
    ebfmi_min: Setting[Annotated[float, Field(ge=0)]]
    mcse_q_max: Setting[Positive]


class SamplingFile(Strict):
    """priors/sampling.yaml."""

    schema_version: Literal[1]
    sampler: SamplerSettings
    gate: GateSettings


# ---------------------------------------------------------------- evidence


def _date(value: object) -> PartialDate:
    return PartialDate.parse(value)


class EvidenceItem(Strict):
    """One coded evidence item (evidence/<year>/<id>.yaml)."""

    schema_version: Literal[1]
    id: ItemId
    date: str
    published: str | None = None
    title: Text
    source: Text
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    reliability: Reliability
    credibility: Credibility
    cluster: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = (
        None
    )
    coder: Text
    notes: str = ""
    drivers: dict[Identifier, Score] | None = None
    scenarios: dict[Identifier, Rating] | None = None

    @field_validator("date", "published", mode="before")
    @classmethod
    def _is_date(cls, v: object) -> object:
        # canonical text (2019, 2019-06 or 2019-06-01) whatever the YAML or CSV spelling
        return None if v is None else str(PartialDate.parse(v))

    @field_validator("notes")
    @classmethod
    def _notes(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _codings(self) -> EvidenceItem:
        if self.drivers is not None and self.scenarios is not None:
            raise ValueError(
                "an item has either driver codings ('drivers') or scenario ratings ('scenarios'), "
                "never both: one observation must not be counted twice; split it into two items"
            )
        if self.drivers is None and self.scenarios is None:
            raise ValueError("the item codes nothing: add 'drivers' or 'scenarios'")
        if self.drivers is not None and not self.drivers:
            raise ValueError("'drivers' is empty: add at least one driver: score")
        if self.scenarios is not None and all(r == "N" for r in self.scenarios.values()):
            raise ValueError(
                "every rating is N (neutral), so the item says nothing: rate at least one "
                "scenario CC, C, I or II"
            )
        return self

    @property
    def event_date(self) -> PartialDate:
        """The event's date."""
        return _date(self.date)

    @property
    def published_date(self) -> PartialDate:
        """When the item became known (the event's date unless given)."""
        return _date(self.published) if self.published is not None else self.event_date

    @property
    def kind(self) -> Literal["drivers", "scenarios"]:
        """Which kind of coding the item carries."""
        return "drivers" if self.drivers is not None else "scenarios"


class Observation(Strict):
    """One value of an indicator series."""

    period: str | int
    value: float

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | int) -> str | int:
        period_quarter(v)
        return v


def period_quarter(period: str | int) -> Quarter:
    """The quarter of an observation period: a quarter, or a year (its last quarter)."""
    text = str(period).strip()
    if text.isdigit() and len(text) == 4:
        return Quarter(int(text), 4)
    try:
        return Quarter.parse(text)
    except ValueError:
        raise ValueError(
            f"period {period!r} is neither a year (2019) nor a quarter (2019Q4)"
        ) from None


TRANSFORMS = ("identity", "log", "logit")


class IndicatorSeries(Strict):
    """A measured series on one driver (MODEL.md §3): y ~ Normal(a + c * x[driver, q], sd)."""

    schema_version: Literal[1]
    id: Identifier
    name: Text
    driver: Identifier
    source: Text
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    coder: Text
    transform: Literal["identity", "log", "logit"] = "identity"
    notes: str = ""
    intercept: NormalPrior
    slope: LogNormalPrior
    noise: LogNormalPrior
    observations: Annotated[list[Observation], Field(min_length=1)]

    @model_validator(mode="after")
    def _domain(self) -> IndicatorSeries:
        for obs in self.observations:
            if self.transform == "log" and obs.value <= 0:
                raise ValueError(f"transform log needs positive values; got {obs.value}")
            if self.transform == "logit" and not 0 < obs.value < 1:
                raise ValueError(f"transform logit needs values in (0, 1); got {obs.value}")
        return self

    def transformed(self) -> list[float]:
        """The observed values on the model's scale."""
        f = {"identity": lambda v: v, "log": math.log, "logit": lambda v: math.log(v / (1 - v))}
        return [f[self.transform](o.value) for o in self.observations]
