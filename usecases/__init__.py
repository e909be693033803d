"""The use-case layer: what a person can do with ftstudio, once, for both front ends.

- ``registry``: THE command registry (id, title, help, CLI arguments, when it is valid, key). The
  argparse tree, the palette, the key bindings, the help screen and a project's
  ``.vscode/tasks.json`` are all generated from it.
- ``contexts``: when a command is valid for a project.
- one module per flow the CLI and the terminal UI share (``runs``, ``status``, ``projects``).

It sits above ``scaffolds`` and ``infra`` and below ``tui``; it never imports Textual. The registry
and the contexts import nothing heavy, so ``ftstudio --help`` stays instant.
"""
