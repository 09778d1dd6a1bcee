"""Index keys a tool call can match, for prefiltering stored rules (see candidate_key)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from nerv.permissions.bashpatterns import first_word
from nerv.permissions.commands import MAX_COMMAND, analyze_call
from nerv.permissions.paths import resolve
from nerv.permissions.syntax import FAMILY, mcp_server

if TYPE_CHECKING:
    from collections.abc import Mapping


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
    if tool_name == "Bash":
        command = tool_input.get("command")
        return command_keys(command) if isinstance(command, str) else ["Bash", "*"]
    keys = (tool_name, FAMILY.get(tool_name), mcp_server(tool_name), "*")
    return list(dict.fromkeys(k for k in keys if k))
