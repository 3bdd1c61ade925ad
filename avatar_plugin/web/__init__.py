"""avatar-plugin web assets: the renderer page, the studio page and their ES modules (served by the daemon)."""

__all__: list[str] = []
