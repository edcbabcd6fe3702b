"""The demo app's tests, run in process with func-py's harness (the `funcpy_app` fixture of the
pytest plugin func-py installs): `.venv/bin/python -m pytest function_app/tests`.

The app's loader imports `function_app` (its `__init__.py` and what that imports), never this
package, so `func-py start` serves the same functions with or without it."""
