"""avatar_plugin.generator (see the package docstring of avatar_plugin)."""
