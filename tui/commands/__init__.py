"""One module per CLI command, each with ``run(args, console) -> int``; imported only when used."""
