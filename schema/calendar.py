"""The working-day calendar: weekends, public holidays and make-up working days (调休).

Promised time limits (承诺时限) are counted in working days. A day is a working day when it
is a make-up working day, or when it is Monday to Friday and not a public holiday. The State
Council publishes each year's arrangement; a ``WorkCalendar`` holds one or more of them
(built from tables: ``from_tables`` for the chinese-calendar package's, ``from_dict`` for a
JSON file; ``overlay`` lays a province's own days over them). Dates in years that no loaded
arrangement covers fall back to plain Monday-Friday: nothing is guessed, and ``covers`` /
``covers_span`` tell whether a count relied on that fallback, so a deadline counted through
such a year is marked provisional (暂定) instead of being trusted silently.

Counting convention: ``working_days_between(start, end)`` counts working days ``d`` with
``start < d <= end`` (the start day itself never counts), and ``add_working_days(start, n)``
is the n-th working day after ``start``, so the two are inverse:
``working_days_between(s, add_working_days(s, n)) == n``.

Red and yellow cards (红黄牌): a deadline is red once ``today > deadline``, yellow while at most
``yellow_days`` working days remain (``working_days_between(today, deadline) <= yellow_days``)
and green otherwise. For SQL filtering, ``yellow_until(today, yellow_days)`` returns the last
date that is still yellow, so that for every deadline ``d``::

    card(d, today, y) == "yellow"  <=>  today <= d <= yellow_until(today, y)

``yellow_until`` is the day before the (y+1)-th working day after today, not the y-th working
day itself: a deadline falling on the weekend right after the y-th working day still has only
y working days left and is yellow, and the filter must agree with ``card``. For deadlines that
are working days (every deadline computed with ``add_working_days(start, n >= 1)``) the two
definitions select the same cases.

The arithmetic uses closed formulas for Monday-Friday counts plus binary search over the few
special dates, so each call is O(log k) whatever the distance.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from yimen.schema.errors import SchemaError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATA_KEYS = frozenset({"years", "holidays", "workdays", "source"})
_ONE_DAY = datetime.timedelta(days=1)


class InvalidCalendar(SchemaError):
    """A holiday arrangement is malformed or contradicts itself."""

    code = "invalid_calendar"


def _weekdays_upto(ordinal: int) -> int:
    """Number of Monday-Friday days among ordinals 1..ordinal (ordinal 1 is a Monday)."""
    weeks, rest = divmod(ordinal, 7)
    return 5 * weeks + min(rest, 5)


def _nth_weekday(total: int) -> int:
    """Smallest ordinal whose ``_weekdays_upto`` equals ``total`` (>= 1): a weekday."""
    weeks, rest = divmod(total, 5)
    if rest == 0:
        return 7 * (weeks - 1) + 5
    return 7 * weeks + rest


def _ordinal(d: datetime.date) -> int:
    """Ordinal of a plain date; datetimes are refused (their day depends on the time zone)."""
    if isinstance(d, datetime.datetime) or not isinstance(d, datetime.date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")
    return d.toordinal()


def _is_weekend(d: datetime.date) -> bool:
    return d.weekday() >= 5


def _index(
    holidays: frozenset[datetime.date], workdays: frozenset[datetime.date]
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Precompute the rank function: working days among ordinals 1..x.

    rank(x) = _weekdays_upto(x) + net[i], where i is the number of special days <= x and
    net[i] the adjustment they bring: -1 for each holiday on a weekday, +1 for each make-up
    day on a weekend (other holidays and make-up days change nothing). Returns the sorted
    special ordinals, ``net`` (length + 1) and the rank at each special day (non-decreasing,
    so it can be binary-searched).
    """
    off = [(d.toordinal(), -1) for d in holidays if not _is_weekend(d)]
    on = [(d.toordinal(), +1) for d in workdays if _is_weekend(d)]
    specials = sorted(off + on)
    net = [0]
    for _, step in specials:
        net.append(net[-1] + step)
    ranks = [_weekdays_upto(o) + net[i + 1] for i, (o, _) in enumerate(specials)]
    return tuple(o for o, _ in specials), tuple(net), tuple(ranks)


@dataclass(frozen=True)
class WorkCalendar:
    """Public holidays and make-up working days; everything else is Monday-Friday.

    ``names`` optionally maps a holiday or make-up day to its name (元旦, 春节调休, ...);
    ``years`` lists the years whose official arrangement is included.
    """

    holidays: frozenset[datetime.date] = frozenset()
    workdays: frozenset[datetime.date] = frozenset()
    names: Mapping[datetime.date, str] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    years: frozenset[int] = frozenset()
    # Precomputed index, see _index().
    _special: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    _net: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    _rank: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    # (start, n) -> the answer of add_working_days: a node counts the same few days over and
    # over (every case accepted today, every card drawn today), each count a pure function
    _memo: dict[tuple[datetime.date, int], datetime.date] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict)

    def __post_init__(self) -> None:
        holidays = frozenset(self.holidays)
        workdays = frozenset(self.workdays)
        for d in holidays | workdays:
            _ordinal(d)
        _check_consistent(holidays, workdays, self.names)
        set_ = object.__setattr__
        set_(self, "holidays", holidays)
        set_(self, "workdays", workdays)
        set_(self, "names", MappingProxyType(dict(self.names)))
        set_(self, "years", frozenset(self.years))
        for name, value in zip(("_special", "_net", "_rank"), _index(holidays, workdays)):
            set_(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType cannot be pickled; rebuild from the public fields instead.
        return (WorkCalendar, (self.holidays, self.workdays, dict(self.names), self.years))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkCalendar:
        """Build a calendar from ``{"years": [...], "holidays": {...}, "workdays": {...}}``.

        ``holidays`` and ``workdays`` map ISO dates (YYYY-MM-DD) to names; an optional
        ``source`` string (the notice it was taken from) is accepted and ignored.
        """
        if not isinstance(data, Mapping):
            raise InvalidCalendar("节假日安排数据必须是一个对象（字典）",
                                  "calendar data must be a mapping")
        unknown = sorted(str(k) for k in data if k not in _DATA_KEYS)
        if unknown:
            raise InvalidCalendar(f"节假日安排数据含有未知字段：{', '.join(unknown)}",
                                  f"calendar data has unknown keys: {', '.join(unknown)}")
        years = _parse_years(data.get("years", []))
        holidays = _parse_dates(data.get("holidays", {}), "holidays", "放假日")
        workdays = _parse_dates(data.get("workdays", {}), "workdays", "调休上班日")
        return cls(
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            names={**holidays, **workdays},
            years=frozenset(years),
        )

    @classmethod
    def from_tables(cls, holidays: Mapping[datetime.date, str], workdays: Mapping[datetime.date, str],
                    years: Iterable[int]) -> WorkCalendar:
        """Build a calendar from ``{date: name}`` tables of holidays and make-up working days
        (such as the chinese-calendar package's) holding the arrangements of ``years``."""
        return cls(holidays=frozenset(holidays), workdays=frozenset(workdays),
                   names={**holidays, **workdays}, years=frozenset(years))

    def overlay(self, other: WorkCalendar) -> WorkCalendar:
        """This calendar with ``other``'s days laid over it: a date ``other`` names is what
        ``other`` says (a province's extra holiday may fall on a national make-up day), and
        ``other``'s years count as covered too."""
        return WorkCalendar(
            holidays=(self.holidays - other.workdays) | other.holidays,
            workdays=(self.workdays - other.holidays) | other.workdays,
            names={**{d: n for d, n in self.names.items() if d not in other.names}, **other.names},
            years=self.years | other.years,
        )

    def covers(self, year: int) -> bool:
        """True if the official arrangement for ``year`` is loaded."""
        return year in self.years

    def covers_span(self, start: datetime.date, end: datetime.date) -> bool:
        """True if every year from ``start``'s to ``end``'s is covered: a count between
        them used no Monday-Friday fallback."""
        return all(y in self.years for y in range(start.year, end.year + 1))

    def digest(self) -> str:
        """A short fingerprint of the days and years (not the names): tells whether
        something counted with another calendar must be counted again."""
        text = "|".join((",".join(sorted(d.isoformat() for d in self.holidays)),
                         ",".join(sorted(d.isoformat() for d in self.workdays)),
                         ",".join(str(y) for y in sorted(self.years))))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def is_working_day(self, d: datetime.date) -> bool:
        """Make-up days work, holidays do not, otherwise Monday-Friday."""
        _ordinal(d)
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def _rank_of(self, ordinal: int) -> int:
        """Working days from the epoch up to and including ``ordinal`` (see _index)."""
        return _weekdays_upto(ordinal) + self._net[bisect_right(self._special, ordinal)]

    def working_days_between(self, start: datetime.date, end: datetime.date) -> int:
        """Working days d with start < d <= end; if end < start, minus those end < d <= start."""
        return self._rank_of(_ordinal(end)) - self._rank_of(_ordinal(start))

    def add_working_days(self, start: datetime.date, n: int) -> datetime.date:
        """The n-th working day after ``start`` (start not counted); ``start`` itself if n == 0."""
        key = (start, n)
        if key in self._memo:
            return self._memo[key]
        if len(self._memo) >= 4096:
            self._memo.clear()
        self._memo[key] = day = self._add_working_days(start, n)
        return day

    def _add_working_days(self, start: datetime.date, n: int) -> datetime.date:
        origin = _ordinal(start)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return start
        # The answer is the first day whose rank reaches `target`. Find the first special day
        # reaching it; before it the net adjustment is constant, so a closed formula applies.
        target = self._rank_of(origin) + n
        k = bisect_left(self._rank, target)
        day = _nth_weekday(target - self._net[k])
        if k < len(self._special) and day >= self._special[k]:
            day = self._special[k]  # a make-up day is the n-th working day
        return datetime.date.fromordinal(day)

    def card(self, deadline: datetime.date, today: datetime.date, yellow_days: int = 1) -> str:
        """"red" past the deadline, "yellow" within ``yellow_days`` working days, else "green"."""
        _check_yellow_days(yellow_days)
        if _ordinal(today) > _ordinal(deadline):
            return "red"
        if self.working_days_between(today, deadline) <= yellow_days:
            return "yellow"
        return "green"

    def yellow_until(self, today: datetime.date, yellow_days: int = 1) -> datetime.date:
        """Last yellow date: deadlines d with today <= d <= it are exactly the yellow ones."""
        _check_yellow_days(yellow_days)
        return self.add_working_days(today, yellow_days + 1) - _ONE_DAY


def _check_yellow_days(yellow_days: int) -> None:
    if yellow_days < 0:
        raise ValueError(f"yellow_days must be >= 0, got {yellow_days}")


def _check_consistent(
    holidays: frozenset[datetime.date],
    workdays: frozenset[datetime.date],
    names: Mapping[datetime.date, str],
) -> None:
    """A date is never both a holiday and a workday; make-up days fall on weekends."""
    both = sorted(holidays & workdays)
    if both:
        text = ", ".join(d.isoformat() for d in both)
        raise InvalidCalendar(f"以下日期既是放假日又是调休上班日：{text}",
                              f"dates are both a holiday and a make-up working day: {text}")
    weekdays = sorted(d for d in workdays if not _is_weekend(d))
    if weekdays:
        text = ", ".join(d.isoformat() for d in weekdays)
        raise InvalidCalendar(f"调休上班日应在周六或周日，以下日期不是：{text}",
                              f"make-up working days must fall on a weekend; these do not: {text}")
    stray = sorted(str(d) for d in names if d not in holidays and d not in workdays)
    if stray:
        text = ", ".join(stray)
        raise InvalidCalendar(f"以下日期有名称，但既不是放假日也不是调休上班日：{text}",
                              f"names given for dates that are neither holiday nor workday: {text}")


def _parse_years(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(y, int) and not isinstance(y, bool) for y in value
    ):
        raise InvalidCalendar("“years”必须是年份（整数）列表",
                              '"years" must be a list of integer years')
    return value


def _parse_dates(value: Any, key: str, zh_key: str) -> dict[datetime.date, str]:
    """Parse ``{"YYYY-MM-DD": name}`` into dates; names must be non-empty strings."""
    if not isinstance(value, Mapping):
        raise InvalidCalendar(f"{zh_key}（“{key}”）必须是“日期: 名称”的对象",
                              f'"{key}" must map ISO dates to names')
    result: dict[datetime.date, str] = {}
    for text, name in value.items():
        result[_parse_date(text, key, zh_key)] = _parse_name(name, text, key, zh_key)
    return result


def _parse_date(text: Any, key: str, zh_key: str) -> datetime.date:
    parsed = None
    if isinstance(text, str) and _ISO_DATE.fullmatch(text):
        try:
            parsed = datetime.date.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        raise InvalidCalendar(f"{zh_key}中的日期“{text}”无效，应为 YYYY-MM-DD 格式的真实日期",
                              f'"{key}": {text!r} is not a valid YYYY-MM-DD date')
    return parsed


def _parse_name(name: Any, text: Any, key: str, zh_key: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidCalendar(f"{zh_key}“{text}”的名称必须是非空文字",
                              f'"{key}": the name of {text} must be a non-empty string')
    return name.strip()
