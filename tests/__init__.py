"""The test suite: a package, so that pytest imports its conftest once, as tests.conftest."""
