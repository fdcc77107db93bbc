"""The ``so101`` command: its table of subcommands (``so101.cli``) and the one layer that parses every
subcommand's options and reports its errors (``so101.command``)."""
