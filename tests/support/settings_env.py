"""Settings handed to a child process the way a deployment hands them: as ``ATTRIBUTION_*`` variables."""

from __future__ import annotations

import json
import os

from attribution.config import Settings


def settings_environ(settings: Settings) -> dict[str, str]:
    """This process's environment without its own ``ATTRIBUTION_*`` variables, plus one per top-level
    setting of ``settings`` (strings as they are, the rest as JSON). A setting that is unset (None) is
    left out, so the child takes the default: a plain-string setting such as ``billing_currency`` would
    otherwise read the JSON ``null`` as a value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTRIBUTION_")}
    dumped = json.loads(settings.model_dump_json())
    env |= {
        f"ATTRIBUTION_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
        for k, v in dumped.items()
        if v is not None
    }
    return env
