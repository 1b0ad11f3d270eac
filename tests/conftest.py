"""Shared test setup.

``tests/ratelimit/rl_services.py`` starts real servers on loopback (redis-server and
dynalite, installed by ``make services-deps``). Its folder goes on ``sys.path`` here so
test modules outside ``tests/ratelimit/`` can use it too, whatever pytest collects first.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SERVICES = str(Path(__file__).resolve().parent / "ratelimit")
if _SERVICES not in sys.path:
    sys.path.insert(0, _SERVICES)
