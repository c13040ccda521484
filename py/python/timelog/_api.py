"""Constants and helpers kept where the C package has them (``timelog._api``)."""

from __future__ import annotations

from timelog._timelog import TL_TS_MAX, TL_TS_MIN, _coerce_ts

__all__ = ["TL_TS_MIN", "TL_TS_MAX", "_coerce_ts"]
