"""Cluster telemetry and memory-time cost attribution for LLM inference clusters."""

__version__ = "0.1.0"
