"""The app's settings file: idle lock time, theme and key bindings.

`config.toml` in `platformdirs.user_config_dir("vipterm")` (or the file named by
`$VIPTERM_CONFIG`):

    [app]
    idle_lock_minutes = 10     # 0 turns the idle lock off
    backup_reminder_days = 7   # remind after unlocking when the last backup is older; 0: never
    theme = "textual-dark"     # textual-light, vipterm-high-contrast, or any Textual theme

    [keys]                     # binding id = "key[,key...]"  (see `vipterm help keys`)
    log_contact = "l"
    lock = "ctrl+l,f12"

A broken file never stops the app: the defaults are used and the problems are shown as a toast.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

CONFIG_ENV = "VIPTERM_CONFIG"
DEFAULT_IDLE_LOCK_MINUTES = 10.0
DEFAULT_THEME = "textual-dark"
DEFAULT_BACKUP_REMINDER_DAYS = 7.0


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("vipterm", appauthor=False)) / "config.toml"


@dataclass
class TuiConfig:
    idle_lock_minutes: float = DEFAULT_IDLE_LOCK_MINUTES
    theme: str = DEFAULT_THEME
    backup_reminder_days: float = DEFAULT_BACKUP_REMINDER_DAYS
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    path: Path | None = None


def load_config(path: Path | None = None) -> TuiConfig:
    """Read the settings file; a missing file gives the defaults, a broken one the defaults plus problems."""
    path = path or default_config_path()
    config = TuiConfig(path=path)
    if not path.exists():
        return config
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        config.problems.append(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or type(exc).__name__}")
        return config
    except tomllib.TOMLDecodeError as exc:
        config.problems.append(f"{path.name} is not valid TOML ({exc}); using the defaults")
        return config
    app = data.get("app", {})
    if not isinstance(app, dict):
        config.problems.append(f"{path.name}: [app] must be a table")
        app = {}
    minutes = app.get("idle_lock_minutes", DEFAULT_IDLE_LOCK_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes < 0:
        config.problems.append(f"{path.name}: idle_lock_minutes must be a number of minutes, 0 for never")
    else:
        config.idle_lock_minutes = float(minutes)
    days = app.get("backup_reminder_days", DEFAULT_BACKUP_REMINDER_DAYS)
    if isinstance(days, bool) or not isinstance(days, (int, float)) or days < 0:
        config.problems.append(f"{path.name}: backup_reminder_days must be a number of days, 0 for never")
    else:
        config.backup_reminder_days = float(days)
    theme = app.get("theme", DEFAULT_THEME)
    if isinstance(theme, str) and theme.strip():
        config.theme = theme.strip()
    else:
        config.problems.append(f"{path.name}: theme must be a theme name")
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        config.problems.append(f'{path.name}: [keys] must be a table of binding id = "key"')
        keys = {}
    for binding_id, value in keys.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str) or not value.strip():
            config.problems.append(f'{path.name}: the key for {binding_id} must be a string like "ctrl+l"')
            continue
        config.keys[str(binding_id)] = value.replace(" ", "")
    return config
