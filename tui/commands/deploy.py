"""``ftstudio deploy``: start (or roll) the inference app and print its endpoint.

Prints a ready-to-paste curl and openai example that reads the key with
``ftstudio secret get INFERENCE_API_KEY --inference``: the key itself is never printed.
"""
from __future__ import annotations

import shlex

from tui.commands._common import open_backend_for, open_project

KEY_NAME = "INFERENCE_API_KEY"


def examples(url: str, project, args, model: str) -> dict:
    flags = f" --project {shlex.quote(str(project.root))}"
    if getattr(args, "target", None):
        flags += f" --target {args.target}"
    key_cmd = f"ftstudio secret get {KEY_NAME} --inference{flags}"
    curl = (
        f"curl -s {url}/v1/chat/completions \\\n"
        f"  -H \"Authorization: Bearer $({key_cmd})\" \\\n"
        f"  -H \"Content-Type: application/json\" \\\n"
        f"  -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'"
    )
    argv = ["ftstudio", "secret", "get", KEY_NAME, "--inference", "--project", str(project.root)]
    if getattr(args, "target", None):
        argv += ["--target", args.target]
    python = (
        "import subprocess\n"
        "from openai import OpenAI\n"
        f"key = subprocess.check_output({argv!r}, text=True).strip()\n"
        f"client = OpenAI(base_url=\"{url}/v1\", api_key=key)\n"
        f"reply = client.chat.completions.create(model=\"{model}\", messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}])\n"
        "print(reply.choices[0].message.content)"
    )
    return {"curl": curl, "python": python, "chat_ui": f"{url}/"}


def run(args, console) -> int:
    project = open_project(args)
    backend = open_backend_for(args, project)
    endpoint = backend.deploy(on_event=console.event)
    url = endpoint.url.rstrip("/")
    ex = examples(url, project, args, endpoint.detail.get("model") or project.name)
    doc = {**endpoint.to_json(), "examples": ex}

    def human() -> str:
        indent = lambda text: "\n".join("  " + line for line in text.splitlines())  # noqa: E731
        return (f"Endpoint: {url}\nChat UI:  {ex['chat_ui']}\n\nAsk it with curl:\n{indent(ex['curl'])}\n\n"
                f"Or with the openai client:\n{indent(ex['python'])}")

    console.result(doc, human=human)
    return 0
