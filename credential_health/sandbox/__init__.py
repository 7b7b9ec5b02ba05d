"""Local stand-ins for real services (exchange simulator, webhook receiver, OpenBao dev server) for tests,
benchmarks and the demo."""
