"""Browser suite: a package so the tests and fixtures can import their helper module."""
