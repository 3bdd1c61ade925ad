"""avatar_plugin.web (see the package docstring of avatar_plugin)."""
