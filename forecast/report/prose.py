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
    rows: list[dict[str, Any]], previous: dict[str, Any] | None, ratings: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per scenario: previous and current E[q], the move, and the part that came from ratings.

    The ratings part is the change of the ratings' contribution (E[q] with minus without the
    ratings block) between the two reports; the rest came from driver codings, indicators and
    Monte Carlo error.
    """
    if previous is None:
        return []
    before = previous.get("scenarios", {})
    contrib_before = previous.get("ratings_contribution", {})
    out = []
    for r in rows:
        if r["id"] not in before:
            continue
        move = r["mean"] - before[r["id"]]["mean"]
        from_ratings = ratings["delta"][r["id"]] - contrib_before.get(r["id"], 0.0)
        d = r["digits"]
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "before": fmt_prob(before[r["id"]]["mean"], d),
                "now": r["mean_text"],
                "move": move,
                "from_ratings": from_ratings,
                "other": move - from_ratings,
                "move_text": fmt_delta(move, d),
                "ratings_text": fmt_delta(from_ratings, d),
                "other_text": fmt_delta(move - from_ratings, d),
            }
        )
    return out


def move_paragraph(
    move: list[dict[str, Any]], previous: dict[str, Any] | None, ratings: dict[str, Any]
) -> str:
    """What moved since the previous report, and how much of it came from scenario ratings."""
    if previous is None:
        return (
            "This is the first published report of the project, so there is no earlier forecast "
            "to compare with. Later reports will say what moved since this one."
        )
    big = max(move, key=lambda m: abs(m["move"])) if move else None
    head = f"Since the previous report ({previous.get('quarter')}), "
    if big is None or float(big["move_text"].replace("\u2212", "-")) == 0:
        return head + "no scenario moved by more than the Monte Carlo error supports."
    parts = [f"{m['name']} {m['before']} → {m['now']} ({m['move_text']})" for m in move]
    total = sum(abs(m["move"]) for m in move)
    share = sum(abs(m["from_ratings"]) for m in move) / total if total > 0 else 0.0
    return (
        head
        + "; ".join(parts)
        + f". The largest move is in {big['name']} ({big['move_text']}), of which "
        f"{big['ratings_text']} came from scenario ratings and {big['other_text']} from driver "
        f"codings, indicators and sampling noise. Across scenarios, roughly {min(share, 1):.0%} "
        f"of the absolute movement is attributable to ratings (method: {ratings['method']}; "
        "see the methods appendix)."
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
