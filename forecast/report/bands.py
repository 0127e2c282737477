"""ICD 203 estimative words and the formatting of probabilities (one table, used everywhere)."""

from __future__ import annotations

#: ICD 203 bands: (lower edge, word). A probability p takes the word of the last edge <= p.
ICD203_BANDS: tuple[tuple[float, str], ...] = (
    (0.00, "almost no chance"),
    (0.05, "very unlikely"),
    (0.20, "unlikely"),
    (0.45, "roughly even chance"),
    (0.55, "likely"),
    (0.80, "very likely"),
    (0.95, "almost certain"),
)


def band_index(p: float) -> int:
    """Index of the ICD 203 band holding probability ``p``."""
    index = 0
    for i, (edge, _word) in enumerate(ICD203_BANDS):
        if p >= edge:
            index = i
    return index


def icd_word(p: float) -> str:
    """The ICD 203 word for probability ``p`` (e.g. 0.7 -> 'likely')."""
    return ICD203_BANDS[band_index(p)][1]


def interval_words(lower: float, upper: float) -> tuple[str, bool]:
    """The word for an interval, and whether it spans several bands.

    Returns
    -------
    tuple
        ``("likely", False)`` when both ends fall in one band, else
        ``("unlikely to likely", True)``: the report then says the interval spans the bands
        rather than picking one.
    """
    a, b = band_index(lower), band_index(upper)
    if a == b:
        return ICD203_BANDS[a][1], False
    return f"{ICD203_BANDS[a][1]} to {ICD203_BANDS[b][1]}", True


def fmt_prob(value: float, digits: int) -> str:
    """A probability with ``digits`` decimals; values that round to 0 or 1 print as '<' / '>'."""
    digits = max(int(digits), 1)
    step = 10.0**-digits
    if value < step / 2:
        return f"<{step:.{digits}f}"
    if value > 1 - step / 2:
        return f">{1 - step:.{digits}f}"
    return f"{value:.{digits}f}"


def fmt_delta(value: float, digits: int) -> str:
    """A signed change with ``digits`` decimals ('+0.04', '−0.10', '0.00')."""
    digits = max(int(digits), 1)
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "\u2212") + text
