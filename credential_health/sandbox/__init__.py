"""Local stand-ins for real services (exchange simulator, webhook receiver) for tests, benchmarks and demos."""
