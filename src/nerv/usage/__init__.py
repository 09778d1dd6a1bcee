"""Usage accounting: parse Claude Code transcripts and ``claude -p`` output, price tokens.

Pure parsing and arithmetic; nothing here touches the database.
"""
