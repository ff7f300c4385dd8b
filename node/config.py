"""Node configuration: one frozen dataclass, defaults < `node.json` < `YIMEN_*` environment.

An unknown key in the file is an error (a typo must not silently fall back to a default).
In the environment, where other software may set its own `YIMEN_*` variables, only a name
close to a setting or to one of Yimen's other variables (`YIMEN_YELOW_DAYS`) is an error,
naming what it resembles; an unrelated one (`YIMEN_FOO`) is ignored. The private key lives
in its own file and never in the config.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from yimen.node.errors import InvalidConfig
from yimen.schema import region
from yimen.schema.errors import os_reason

CONFIG_FILE = "node.json"
PASSWORD_PROFILES = ("standard", "cheapest")
INT_SETTINGS = ("yellow_days", "session_idle_hours", "consent_max_days")
# Environment variables of Yimen that are not settings of this file (the CLI's options).
ENV_NOT_SETTINGS = {"YIMEN_HOME", "YIMEN_CLERK", "YIMEN_LANG", "YIMEN_HOST", "YIMEN_PORT", "YIMEN_LOG_FILE",
                    "YIMEN_KEY_FILE", "YIMEN_PASSPHRASE"}
# What a yes/no setting may be in the environment.
BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


@dataclass(frozen=True)
class Config:
    """Settings of one node."""

    region_code: str  # 12-digit code of the node's jurisdiction; one node per code
    name: str  # display name, e.g. "高明区荷城街道某某村党群服务中心"
    parent_url: str = ""  # HTTP address of the parent node, empty when offline only
    yellow_days: int = 1  # a case is yellow with at most this many working days left
    calendar_file: str = ""  # a province's own days (JSON) over the chinese-calendar package's; "" = none
    session_idle_hours: int = 8  # a clerk's sign-in ends after this many hours without a command
    consent_max_days: int = 30  # the longest a citizen's consent to share their space may run
    # Argon2id cost of clerks' password hashes: "standard" (RFC 9106's low-memory profile:
    # 64 MiB, 3 passes) or "cheapest" (for tests only; `yimen status` reports it as weak).
    password_profile: str = "standard"
    created_at: str = ""
    # Plain HTTP (no TLS) for `serve` and to the parent, allowed only on this machine's loopback
    # addresses: tests and demos only (YIMEN_PLAIN_HTTP=1).
    plain_http: bool = False
    language: str = "zh"  # the web pages' language when a browser has not chosen one (zh or en)

    def __post_init__(self) -> None:
        object.__setattr__(self, "region_code", region.normalize(self.region_code))
        if not self.name.strip():
            raise InvalidConfig("节点名称不能为空", "the node name must not be empty")
        if not isinstance(self.yellow_days, int) or self.yellow_days < 0:
            raise InvalidConfig("yellow_days 必须是非负整数", "yellow_days must be a non-negative integer")
        if not isinstance(self.session_idle_hours, int) or self.session_idle_hours < 1:
            raise InvalidConfig("session_idle_hours 必须是正整数", "session_idle_hours must be a positive integer")
        if not isinstance(self.consent_max_days, int) or not 1 <= self.consent_max_days <= 366:
            raise InvalidConfig("consent_max_days 必须是 1 到 366 之间的整数",
                                "consent_max_days must be an integer from 1 to 366")
        if self.password_profile not in PASSWORD_PROFILES:
            raise InvalidConfig(f"password_profile 只能是 {'、'.join(PASSWORD_PROFILES)}",
                                f"password_profile must be one of {', '.join(PASSWORD_PROFILES)}")
        if self.language not in ("zh", "en"):
            raise InvalidConfig("language 只能是 zh 或 en", "language must be zh or en")
        if not isinstance(self.plain_http, bool):
            raise InvalidConfig("plain_http 必须是 true 或 false", "plain_http must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, raw: str) -> Any:
    if name in INT_SETTINGS:
        try:
            return int(raw)
        except ValueError:
            var = f"YIMEN_{name.upper()}"
            raise InvalidConfig(f"{var} 不是整数：{raw}", f"{var} is not an integer: {raw}")
    if name == "plain_http":
        if raw.strip().lower() not in BOOLEANS:
            raise InvalidConfig(f"YIMEN_PLAIN_HTTP 须为 1 或 0：{raw}", f"YIMEN_PLAIN_HTTP must be 1 or 0: {raw}")
        return BOOLEANS[raw.strip().lower()]
    return raw


def _resembles(name: str, names: set[str], prefix: str = "") -> str:
    """The one of `names` that `name` is most likely a typo of, or empty; a common
    `prefix` is left out of the comparison (it would make every name look alike)."""
    bare = {n[len(prefix):].lower(): n for n in names}
    close = difflib.get_close_matches(name[len(prefix):].lower(), sorted(bare), n=1, cutoff=0.7)
    return bare[close[0]] if close else ""


def load(home: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read `home/node.json`, then apply `YIMEN_<SETTING>` environment overrides."""
    environ = os.environ if environ is None else environ
    path = home / CONFIG_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as e:
        zh, en = os_reason(e)
        raise InvalidConfig(f"无法读取配置文件 {path}：{zh}", f"cannot read config file {path}: {en}") from e
    except ValueError as e:
        raise InvalidConfig(f"配置文件 {path} 不是有效的 JSON", f"the config file {path} is not valid JSON") from e
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        hint = _resembles(unknown[0], known)
        raise InvalidConfig(f"配置文件 {path} 含未知设置：{', '.join(unknown)}{hint and f'（是否想写 {hint}？）'}",
                            f"unknown settings in {path}: {', '.join(unknown)}{hint and f' (did you mean {hint}?)'}")
    for key, raw in environ.items():
        if not key.startswith("YIMEN_") or key in ENV_NOT_SETTINGS:
            continue
        name = key[len("YIMEN_"):].lower()
        if name in known:
            data[name] = _coerce(name, raw)
        elif hint := _resembles(key, {f"YIMEN_{k.upper()}" for k in known} | ENV_NOT_SETTINGS, "YIMEN_"):
            raise InvalidConfig(f"环境变量 {key} 不是 Yimen 的设置：是否想写 {hint}？",
                                f"the environment variable {key} is no Yimen setting: did you mean {hint}?")
    try:
        return Config(**data)
    except TypeError as e:
        raise InvalidConfig(f"配置不完整：{e}", f"incomplete config: {e}") from e


def save(home: Path, config: Config) -> None:
    text = json.dumps(config.to_dict(), ensure_ascii=False, indent=2) + "\n"
    fd = os.open(home / CONFIG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(home / CONFIG_FILE, 0o600)  # a node.json from before may be world-readable


__all__ = ["Config", "load", "save", "replace"]
