"""Reports from stored results: chargeback statements and their renderings."""
