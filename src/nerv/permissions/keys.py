"""Index keys a tool call can match, for prefiltering stored rules (see candidate_key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nerv.permissions.bashpatterns import first_word
from nerv.permissions.commands import MAX_COMMAND, analyze_call
from nerv.permissions.model import field_texts
from nerv.permissions.paths import resolve
from nerv.permissions.syntax import ALIASES, FAMILY, mcp_server


def command_keys(command: str) -> list[str]:
    """Keys of every rule that could match the Bash ``command``.

    ``"Bash"`` (whole-tool, wildcard-leading and check rules), ``"*"`` (tool
    globs), and ``"Bash:<word>"`` for the first word of every form of every part
    (as written, unwrapped, quote-removed, inside ``bash -c``...).  Commands that
    cannot be parsed also get the first word of the raw text.
    """
    keys = dict.fromkeys(["Bash", "*"])
    # The home directory as the matcher computes it by default, so that its
    # analysis of the same command is the one kept by analyze_call.
    analysis, error = analyze_call(command, resolve(os.path.expanduser("~"), "/", "/"))
    extra = [command[:MAX_COMMAND]] if error is not None else []
    for part in analysis.parts:
        for form in (*part.deny_forms, *part.allow_forms):
            word = first_word(form)
            if word:
                keys[f"Bash:{word}"] = None
    reads, writes = analysis.files()
    if reads or writes or analysis.cd_dirs or any(part.read_only for part in analysis.parts):
        # Files the command reads or writes are checked against Read and Edit rules.
        keys.update(dict.fromkeys(("Read", "Edit")))
    for form in extra:
        word = first_word(form)
        if word:
            keys[f"Bash:{word}"] = None
    return list(keys)


def call_keys(tool_name: str, tool_input: Mapping[str, Any]) -> list[str]:
    """Keys of every rule that could match this tool call (``candidate_key`` values)."""
    if not isinstance(tool_name, str):
        return ["*"]  # the matcher never allows such a call; only tool globs could deny it
    if not isinstance(tool_input, Mapping):
        tool_input = {}
    if tool_name == "Bash":
        command = tool_input.get("command")
        if isinstance(command, str):
            return command_keys(command)
        # Not a string: deny and ask rules still meet the text it holds (see CompiledRules.evaluate).
        keys = [k for text in field_texts(command) for k in command_keys(text)]
        return list(dict.fromkeys(keys)) or ["Bash", "*"]
    family = FAMILY.get(tool_name)
    # Edit-family calls also meet Read deny rules; Task and Agent are one tool.
    read = "Read" if family == "Edit" else None
    names = (tool_name, family, read, ALIASES.get(tool_name), mcp_server(tool_name), "*")
    return list(dict.fromkeys(k for k in names if k))
