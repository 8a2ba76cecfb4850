"""The reporting API (FastAPI): thin routes over stored results."""
