"""func-py's runtime: configuration, loading, invocation, the HTTP surface and the task hub."""

__version__ = "0.1.0"
