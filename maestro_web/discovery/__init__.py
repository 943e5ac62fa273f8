"""Discovery: dependencies inferred from what really runs (SPEC §11). Flask-free, like the worker."""
