"""My Space (我的空间): a citizen's reusable documents and results. Not built yet."""
