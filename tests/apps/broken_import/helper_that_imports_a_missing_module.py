import definitely_not_installed_funcpy_module  # noqa: F401
