"""avatar_plugin.live (see the package docstring of avatar_plugin)."""
