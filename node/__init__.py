"""The running node: home folder, config and identity (`home`, `config`), its own tables
(`storage`) and projections, the services (`services`), the HTTP server (`server`) and the
`yimen` command line (`cli`)."""
