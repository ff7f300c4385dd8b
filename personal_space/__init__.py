"""My Space (我的空间): a citizen's reusable documents (results of completed cases, scans
handed in at a window), the consents under which another window may use them, their files
and the e-certificates that verify anywhere with no link."""
