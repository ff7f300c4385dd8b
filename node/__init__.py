"""The running node: home folder and identity, projections and services, the CLI."""
