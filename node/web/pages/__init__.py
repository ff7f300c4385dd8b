"""The window's parts, one module each with a `routes` table (listed in `web.app.PARTS`).
Handlers are a few lines: who is asking (`auth`), one service call on the database
thread (`render.db`), one template."""
