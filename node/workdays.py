"""Working days at a node: the State Council's yearly arrangements (holidays and make-up
working days, 调休) as the chinese-calendar package holds them, its maintainers adding each
year's notice, with a province's own days from the node's override file (`calendar_file`
in node.json, the JSON format of `WorkCalendar.from_dict`) laid over them.

A year that neither source covers counts Monday to Friday, and a deadline counted through
it is marked provisional on the case (see `yimen.schema.case.clock`). A newer package (or
an edited override file) changes the calendar; the lists follow (`projections.recount`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from chinese_calendar.constants import Holiday, holidays, workdays

from yimen.node.errors import InvalidConfig
from yimen.schema.calendar import WorkCalendar
from yimen.schema.errors import YimenError


@lru_cache(maxsize=1)
def library_calendar() -> WorkCalendar:
    """Every year the chinese-calendar package holds, with Chinese names (元旦, 春节调休上班)."""
    names = {h.value: h.chinese for h in Holiday}
    off = {d: names.get(v, v) for d, v in holidays.items()}
    on = {d: f"{names.get(v, v)}调休上班" for d, v in workdays.items()}
    # the package's own rule for what it covers: the years from its first holiday to its last
    return WorkCalendar.from_tables(off, on, range(min(off).year, max(off).year + 1))


def load_calendar(path: str = "") -> WorkCalendar:
    """The library's calendar, with the override file at `path` laid over it (if given)."""
    if not path:
        return library_calendar()
    try:
        own = WorkCalendar.from_dict(json.loads(Path(path).read_text("utf-8")))
    except YimenError as e:
        raise InvalidConfig(f"工作日历补充文件 {path} 有误：{e.zh}", f"calendar file {path}: {e.en}") from e
    except (OSError, ValueError) as e:
        raise InvalidConfig(f"无法读取工作日历补充文件 {path}：{e}", f"cannot read calendar file {path}: {e}") from e
    return library_calendar().overlay(own)
