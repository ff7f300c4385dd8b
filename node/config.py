"""Node configuration: one frozen dataclass, defaults < `node.json` < `YIMEN_*` environment.

Unknown keys in the file or the environment are an error (a typo must not silently fall
back to a default). The private key lives in its own file and never in the config.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from yimen.node.errors import InvalidConfig
from yimen.schema import region

CONFIG_FILE = "node.json"
# Environment variables that are not settings of this file.
ENV_NOT_SETTINGS = {"YIMEN_HOME", "YIMEN_CLERK", "YIMEN_LANG"}


@dataclass(frozen=True)
class Config:
    """Settings of one node."""

    region_code: str  # 12-digit code of the node's jurisdiction; one node per code
    name: str  # display name, e.g. "高明区荷城街道某某村党群服务中心"
    parent_url: str = ""  # HTTP address of the parent node, empty when offline only
    yellow_days: int = 1  # a case is yellow with at most this many working days left
    calendar_file: str = ""  # a province's own days (JSON) over the chinese-calendar package's; "" = none
    created_at: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "region_code", region.normalize(self.region_code))
        if not self.name.strip():
            raise InvalidConfig("节点名称不能为空", "the node name must not be empty")
        if not isinstance(self.yellow_days, int) or self.yellow_days < 0:
            raise InvalidConfig("yellow_days 必须是非负整数", "yellow_days must be a non-negative integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, raw: str) -> Any:
    if name == "yellow_days":
        try:
            return int(raw)
        except ValueError:
            raise InvalidConfig(f"YIMEN_YELLOW_DAYS 不是整数：{raw}", f"YIMEN_YELLOW_DAYS is not an integer: {raw}")
    return raw


def load(home: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read `home/node.json`, then apply `YIMEN_<SETTING>` environment overrides."""
    environ = os.environ if environ is None else environ
    path = home / CONFIG_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidConfig(f"无法读取配置文件 {path}：{e}", f"cannot read config file {path}: {e}") from e
    known = {f.name for f in fields(Config)}
    unknown = set(data) - known
    if unknown:
        raise InvalidConfig(f"配置文件含未知设置：{', '.join(sorted(unknown))}",
                            f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for key, raw in environ.items():
        if not key.startswith("YIMEN_") or key in ENV_NOT_SETTINGS:
            continue
        name = key[len("YIMEN_"):].lower()
        if name not in known:
            raise InvalidConfig(f"未知环境变量 {key}", f"unknown environment variable {key}")
        data[name] = _coerce(name, raw)
    try:
        return Config(**data)
    except TypeError as e:
        raise InvalidConfig(f"配置不完整：{e}", f"incomplete config: {e}") from e


def save(home: Path, config: Config) -> None:
    text = json.dumps(config.to_dict(), ensure_ascii=False, indent=2) + "\n"
    (home / CONFIG_FILE).write_text(text, "utf-8")


__all__ = ["Config", "load", "save", "replace"]
