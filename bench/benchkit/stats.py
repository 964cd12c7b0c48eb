"""Statistics: pure functions, no I/O."""

import math


def median(values):
    """Median of a non-empty sequence of numbers (mean of the middle two
    for an even count). An empty sequence gives NaN, which the report
    prints as 'nan' rather than inventing a figure."""
    v = sorted(float(x) for x in values)
    n = len(v)
    if n == 0:
        return math.nan
    mid = n // 2
    return v[mid] if n % 2 else (v[mid - 1] + v[mid]) / 2


def ratio(num, den):
    """num / den, or NaN when den is 0 or either side is NaN."""
    if den == 0 or math.isnan(num) or math.isnan(den):
        return math.nan
    return num / den


def pct(part, whole):
    """100 * part / whole, 0 when whole is not positive (as run.sh did for
    an idle pool: no worker time, no lock share)."""
    return 100.0 * part / whole if whole > 0 else 0.0


def fmt(x, digits=1):
    """A number with a fixed count of decimals; NaN as 'nan'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.{digits}f}"
