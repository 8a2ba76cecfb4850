"""The TOML configurations the command-line tests write for the embedded SQLite database.

``{db}`` is the database file; ``{{``/``}}`` are literal braces (the strings go through ``str.format``).
"""

from __future__ import annotations

#: one pool on four H100s, one-minute intervals (tests/test_cli.py and the jobs' CLI runs)
CONFIG = """
database_url = "sqlite:///{db}"
inventory = {{ "H100-SXM" = 4 }}

[[gpu_prices]]
gpu_type = "H100-SXM"
usd_per_gpu_hour = "2.99"

[[pools]]
name = "small"
model = "mistral-small-24b"
served_model_name = "mistralai/Mistral-Small-24B-Instruct-2501"
tensor_parallel_size = 2
gpu_selector = {{ pod = "small-.*" }}
"""

#: the same cluster at hourly intervals (the report command tests)
HOURLY_CONFIG = """
database_url = "sqlite:///{db}"
interval_seconds = 3600
inventory = {{ "H100-SXM" = 4 }}

[[gpu_prices]]
gpu_type = "H100-SXM"
usd_per_gpu_hour = "2.99"

[[pools]]
name = "small"
model = "mistral-small-24b"
served_model_name = "mistralai/Mistral-Small-24B-Instruct-2501"
tensor_parallel_size = 2
gpu_selector = {{ pod = "small-.*" }}
"""
