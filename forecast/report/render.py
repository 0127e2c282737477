"""Figures and templates: the report's context -> PNG figures, HTML and Markdown (pure).

HTML is one self-contained file: figures as base64 ``data:`` URIs, CSS inline, no scripts, and a
Content-Security-Policy that forbids loading anything else. Jinja2 autoescapes both templates, so
evidence text (titles, sources) always renders as text. Writing is :mod:`forecast.io.reports`.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2

from forecast.dims import DRIVER, SCENARIO

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from forecast.api import ForecastRun
    from forecast.io.project import ProjectSpec

#: The policy in the HTML's meta tag: nothing loads but inline CSS and embedded images.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)
#: Resolution of the embedded PNG figures.
DPI = 110


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: a file name, a title, a caption and the PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI for the HTML."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def figure_png(fig: Figure) -> bytes:
    """A matplotlib Figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def report_figures(run: ForecastRun, spec: ProjectSpec, ctx: dict[str, Any]) -> dict[str, Figure]:
    """The report's figures as matplotlib Figures, by file stem (also for notebooks)."""
    from forecast import plots
    from forecast.priors import prior_arrays

    mass = run.interval_mass
    idata = run.idata
    history = trend_rows(ctx)
    return {
        "probabilities": plots.plot_probabilities(idata, mass),
        "history": plots.plot_history(history, ctx["scenarios"]),
        "drivers": plots.plot_drivers(idata, mass, ctx["horizon"], prior_arrays(spec).nu),
        "p_now": plots.plot_p_now(idata, mass),
        "prior_posterior_drivers": plots.plot_prior_posterior(idata, "x_H", DRIVER),
        "prior_posterior_scenarios": plots.plot_prior_posterior(idata, "q", SCENARIO),
    }


def trend_rows(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """History rows for the trend chart: earlier forecasts plus this one (replacing its quarter)."""
    from forecast.report.context import history_rows

    current = history_rows(ctx)
    kept = [
        r
        for r in ctx["history"]
        if not (r["quarter"] == ctx["quarter"] and r.get("kind", "published") == "published")
    ]
    return [*kept, *current]


CAPTIONS = {
    "probabilities": (
        "Scenario probabilities",
        "E[q] per scenario (dot), its {mass} interval (bar) and the density of the draws.",
    ),
    "history": (
        "Forecasts over time",
        "E[q] with its interval, quarter by quarter; solid: forecasts published at the time, "
        "dashed with hollow markers: backtests (the forecast refitted with only the evidence "
        "known then, `forecast backtest`). The last point is this report.",
    ),
    "drivers": (
        "Driver trajectories",
        "Fitted levels from the start quarter to {as_of} (blue: mean, 50% and {mass} bands) and "
        "projected to {horizon} with future noise (orange).",
    ),
    "p_now": (
        "Where the structure pointed each quarter",
        "p_now: softmax of the scenario scores at each quarter's driver levels, with {mass} bands.",
    ),
    "prior_posterior_drivers": (
        "Prior and posterior: drivers at the horizon",
        "x_H, the mean projection of each driver to {horizon}: prior (grey) and posterior (blue).",
    ),
    "prior_posterior_scenarios": (
        "Prior and posterior: scenario probabilities",
        "q per scenario: prior (grey, no evidence) and posterior (blue).",
    ),
}


def encode_figures(figures: dict[str, Figure], ctx: dict[str, Any]) -> list[ReportFigure]:
    """PNG-encode the figures with their titles and captions, in report order."""
    fill = {
        "mass": f"{ctx['interval_mass']:.0%}",
        "as_of": ctx["as_of"],
        "horizon": ctx["horizon"],
    }
    out = []
    for name, fig in figures.items():
        title, caption = CAPTIONS.get(name, (name, ""))
        out.append(ReportFigure(f"{name}.png", title, caption.format(**fill), figure_png(fig)))
    return out


def _md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _effects(effects: list[dict[str, Any]]) -> str:
    """An effect list as one Markdown cell: 'entente +0.010, china_hubris −0.006'."""
    return ", ".join(f"{e['scenario']} {e['text']}" for e in effects) or "no visible change"


def _md_text(value: object) -> object:
    """Every value printed in the Markdown: HTML-significant characters as entities."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def environment(markdown: bool = False) -> jinja2.Environment:
    """The Jinja2 environment of the report templates.

    HTML autoescapes every value. Markdown cannot use HTML escaping (quotes would turn into
    entities), so every value printed in it passes through a finalizer that escapes ``&``,
    ``<`` and ``>``: evidence text never becomes markup in either file.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("forecast.report", "templates"),
        autoescape=False if markdown else jinja2.select_autoescape(default=True),
        finalize=_md_text if markdown else None,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = _md_cell
    env.filters["effects"] = _effects
    return env


def render_html(ctx: dict[str, Any], figures: list[ReportFigure]) -> str:
    """The self-contained HTML report."""
    return environment().get_template("report.html.j2").render(ctx=ctx, figures=figures, csp=CSP)


def render_markdown(ctx: dict[str, Any], figures: list[ReportFigure]) -> str:
    """The Markdown report; figures are referenced as PNG files beside it."""
    return environment(markdown=True).get_template("report.md.j2").render(ctx=ctx, figures=figures)
