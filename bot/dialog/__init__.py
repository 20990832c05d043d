"""The dialog engine: flows as data, a per-user lease, sessions saved at every step."""
