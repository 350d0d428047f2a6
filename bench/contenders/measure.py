"""What a contender's own process costs: the product's own definitions, so a benchmark's "peak
RSS" and the load task's reported peak are the same figure (``include/dc2sf/engine/process_cost.py``)."""

from __future__ import annotations

from include.dc2sf.engine.process_cost import cpu_seconds, current_rss_mb, peak_rss_mb

__all__ = ["cpu_seconds", "current_rss_mb", "peak_rss_mb"]
