"""``python -m attribution.cli``, where the console script is not installed."""

from attribution.cli.launch import entry

entry()
