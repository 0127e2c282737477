"""Sentences from numbers: the report's paragraphs, built from the context's tables (pure)."""

from __future__ import annotations

from typing import Any

from forecast.report.bands import fmt_delta, fmt_prob


def headline_sentences(rows: list[dict[str, Any]], mass: float, horizon: str) -> list[str]:
    """One sentence per scenario, most probable first, with its interval and ICD 203 word."""
    out = []
    for r in rows:
        if r["spans"]:
            word = f"its {mass:.0%} interval spans several estimative bands ({r['words']})"
        else:
            word = f"{r['words']} (ICD 203)"
        out.append(
            f"{r['name']}: {r['mean_text']} ({mass:.0%} interval {r['interval_text']}); {word}."
        )
    return out


def move_table(
    rows: list[dict[str, Any]], previous: dict[str, Any] | None, changes: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Per scenario: previous and current E[q], the move, and what the changed items explain.

    ``items`` is the joint effect of all new and re-rated items (E[q] now minus E[q] with them as
    they were), ``ratings`` and ``codings`` the effect of the changed scenario ratings alone and of
    the changed driver codings alone (effects interact, so the two need not add up to ``items``),
    and ``rest`` = move - items: the extra quarter of drift, indicators and Monte Carlo error.
    """
    if previous is None:
        return []
    before = previous.get("scenarios", {})
    by_type = (changes or {}).get("by_type") or {}
    joint = (changes or {}).get("joint")

    def part(effect: dict[str, Any] | None, sid: str) -> float:
        return float(effect["delta"][sid]) if effect else 0.0

    out = []
    for r in rows:
        if r["id"] not in before:
            continue
        sid, d = r["id"], r["digits"]
        move = r["mean"] - before[sid]["mean"]
        values = {
            "move": move,
            "items": part(joint, sid),
            "ratings": part(by_type.get("ratings"), sid),
            "codings": part(by_type.get("codings"), sid),
            "rest": move - part(joint, sid),
        }
        out.append(
            {
                "id": sid,
                "name": r["name"],
                "before": fmt_prob(before[sid]["mean"], d),
                "now": r["mean_text"],
                **values,
                **{f"{k}_text": fmt_delta(v, max(d, 2)) for k, v in values.items()},
            }
        )
    return out


def ratings_sentence(ratings: dict[str, Any], names: dict[str, str]) -> str:
    """How much the scenario ratings as a whole add to each scenario (E[q] with minus without)."""
    if ratings.get("method") == "no ratings":
        return "No item rates scenarios directly; all evidence works through the drivers."
    delta = ratings["delta"]
    top = max(delta, key=lambda s: abs(delta[s]))
    return (
        "Scenario ratings as a whole (E[q] with them minus without them) move the probability "
        f"of “{names.get(top, top)}” by {fmt_delta(delta[top], 2)}; the rest of the evidence "
        "works through the drivers."
    )


def move_paragraph(
    move: list[dict[str, Any]],
    previous: dict[str, Any] | None,
    ratings: dict[str, Any],
    names: dict[str, str] | None = None,
) -> str:
    """What moved since the previous report, and how much of it came from scenario ratings."""
    names = names or {}
    if previous is None:
        return (
            "This is the first published report of the project, so there is no earlier forecast "
            "to compare with; later reports will say what moved since this one. "
            + ratings_sentence(ratings, names)
        )
    head = f"Since the previous report ({previous.get('quarter')}): "
    big = max(move, key=lambda m: abs(m["move"])) if move else None
    if big is None or float(big["move_text"].replace("\u2212", "-")) == 0:
        return head + "no scenario moved by more than the Monte Carlo error supports."
    parts = [f"{m['name']} {m['before']} → {m['now']} ({m['move_text']})" for m in move]
    r, c = abs(big["ratings"]), abs(big["codings"])
    share = f"about {r / (r + c):.0%} of it from ratings" if r + c > 0 else "none of it"
    return (
        head
        + "; ".join(parts)
        + f". Of the largest move, {big['name']} {big['move_text']}, the new and re-rated items "
        f"together account for {big['items_text']}: changed scenario ratings alone "
        f"{big['ratings_text']}, changed driver codings alone {big['codings_text']} ({share}, "
        f"comparing the two alone; effects interact, so they need not add up). The remaining "
        f"{big['rest_text']} comes from the extra quarter of drift, indicators and Monte Carlo "
        "error."
    )


def changes_paragraph(changes: dict[str, Any]) -> str:
    """A sentence on the new, re-rated and dropped items since the previous report."""
    new, rerated, dropped = changes["new"], changes["rerated"], changes["dropped"]
    if not (new or rerated or dropped):
        return "No item was added, re-rated or dropped since the previous report."
    bits = []
    if new:
        bits.append(f"{len(new)} new item{'s' * (len(new) != 1)} ({', '.join(new)})")
    if rerated:
        bits.append(f"{len(rerated)} re-rated ({', '.join(rerated)})")
    if dropped:
        bits.append(f"{len(dropped)} dropped ({', '.join(dropped)})")
    return "Since the previous report: " + "; ".join(bits) + "."


def effect_list(delta: dict[str, float], digits: int = 3) -> list[dict[str, Any]]:
    """The scenarios an effect visibly moves, largest first: ``{scenario, text, sign}``."""
    out = []
    for s, v in sorted(delta.items(), key=lambda kv: -abs(kv[1])):
        text = fmt_delta(v, digits)
        if float(text.replace("\u2212", "-")) != 0:
            out.append({"scenario": s, "text": text, "sign": "pos" if v > 0 else "neg"})
    return out
