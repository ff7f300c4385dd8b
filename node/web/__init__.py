"""The window (窗口): the web pages a node serves to its clerks and admins on the local
network, and to citizens (progress by receipt QR, rating a case).

Server-rendered with aiohttp-jinja2 in the node's own aiohttp app, beside the sync routes
(`/v1/...`); every page calls the same services as the CLI, on the node's database thread
(`in_db`), so no rule lives in a template or a handler. Static files are vendored
(`static/VENDORED.md`); a page makes no request outside the node (its Content-Security-
Policy says so to the browser).

- `app.setup_pages(app)` wires everything: templates, static files, the session and CSRF
  middlewares, the error pages, and each part's routes (`pages/*.py`, one `routes` table
  each, listed in `app.PARTS`).
- `auth`: sign-in (the clerks and passwords of `services.sessions`), the session cookie
  (aiohttp-session, encrypted, one cookie name per node), CSRF tokens (itsdangerous).
- `errors`: every failure of a page is a page: one sentence, never a traceback.
- `i18n`: Chinese by default, English with `?lang=en` (kept in a cookie) or the node's
  `language` setting; templates say `t("中文", "English")`.
"""
