"""`make demo`: the whole pipeline on loopback with the embedded default (OpenBao, simulator, receiver, SQLite)."""
