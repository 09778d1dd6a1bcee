"""The rules every new nerv database starts with.

Aimed at mistakes and hijacked agents, not at a determined attacker with
shell access: block privilege escalation, wiping the disk or home, running
downloaded code, reading or writing credentials, and editing nerv's own state;
ask before rewriting published git history or changing what the agent may do.
Everything else falls through to the user's own rules.

Notes on reach:
* wiping ``/`` or home is a built-in check rather than ``Bash(rm -rf /*)``:
  ``*`` in a rule is always a wildcard, so that rule would deny every recursive
  rm of an absolute path; the check also knows ``-r -f``, ``--recursive``...;
* Bash rules see through wrappers and quoting for deny and ask, so
  ``sudo`` deny also fires for ``timeout 5 sudo x`` and ``"sudo" x``;
* ``Edit(~/.nerv/**)`` assumes the default NERV_HOME; the migrations add the
  same rule for a custom one;
* ``check:nerv-control`` finds ``nerv approvals ...`` however it is started
  (full path, ``python -m nerv``, behind wrappers such as ``env`` or ``nohup``);
  writes into nerv's home from Bash (``> ~/.nerv/x``, ``rm``, ``sqlite3``...)
  meet the Edit rule because Bash redirections and file commands are checked
  as Edit calls.
"""

from __future__ import annotations

from nerv.permissions.model import RuleSpec

# Rules added after the first release: the bash_default_rules migration adds
# them to existing databases, skipping any tool and specifier the user already has.
ADDED_RULES: tuple[tuple[str, str, str], ...] = (
    ("Bash(pkexec:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(sudoedit:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(run0:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(check:nerv-control)", "deny",
     "the agent must not approve its own requests or change its rules, settings, hooks or database "
     "(nerv approvals|rules|settings|hooks|restore|import, also as python -m nerv)"),
)

DEFAULT_RULES: tuple[tuple[str, str, str], ...] = (
    # -- Bash: never ---------------------------------------------------------
    ("Bash(check:pipe-to-shell)", "deny", "runs code straight from the network (curl ... | sh and friends)"),
    ("Bash(sudo:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(su:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(doas:*)", "deny", "no privilege escalation from an agent"),
    ("Bash(check:rm-root)", "deny", "wipes the filesystem or the home directory (rm -rf /, /*, ~, $HOME...)"),
    ("Bash(mkfs:*)", "deny", "formats a disk"),
    ("Bash(dd * of=/dev/*)", "deny", "writes a raw device"),
    ("Bash(dd of=/dev/*)", "deny", "writes a raw device"),
    ("Bash(chmod -R 777 /:*)", "deny", "opens up the whole filesystem"),
    *ADDED_RULES[:4],
    # -- Bash: ask first -----------------------------------------------------
    ("Bash(git push *--force*)", "ask", "rewrites published history"),
    ("Bash(git push -f:*)", "ask", "rewrites published history"),
    ("Bash(git push * -f)", "ask", "rewrites published history"),
    ("Bash(git push * -f *)", "ask", "rewrites published history"),
    ("Bash(git push * +*)", "ask", "a +refspec force-pushes"),
    ("Bash(git reset --hard:*)", "ask", "discards uncommitted work"),
    ("Bash(git clean:*)", "ask", "deletes untracked files"),
    # -- files: credentials ----------------------------------------------------
    ("Read(~/.ssh/**)", "deny", "SSH keys"),
    ("Edit(~/.ssh/**)", "deny", "SSH keys and authorized_keys"),
    ("Read(~/.aws/credentials)", "deny", "AWS secrets"),
    ("Read(~/.gnupg/**)", "deny", "GnuPG keys"),
    ("Edit(~/.gnupg/**)", "deny", "GnuPG keys"),
    ("Read(~/.netrc)", "deny", "stored passwords"),
    ("Read(~/.git-credentials)", "deny", "stored git passwords"),
    ("Read(~/.config/gh/hosts.yml)", "deny", "GitHub CLI token"),
    ("Read(~/.docker/config.json)", "deny", "registry credentials"),
    ("Read(~/.kube/config)", "deny", "cluster credentials"),
    # -- files: nerv itself and the agent's own permissions -----------------
    ("Edit(~/.nerv/**)", "deny", "nerv's database, backups and logs: change them through nerv"),
    ("Edit(~/.claude/settings.json)", "ask", "the agent's own permission settings"),
    ("Edit(/.claude/settings.json)", "ask", "the project's Claude Code permission settings"),
    ("Edit(/.claude/settings.local.json)", "ask", "the project's local Claude Code permission settings"),
    # -- files: shell start-up files (persistence) -----------------------------
    ("Edit(~/.bashrc)", "ask", "runs in every new shell"),
    ("Edit(~/.bash_profile)", "ask", "runs in every login shell"),
    ("Edit(~/.profile)", "ask", "runs in every login shell"),
    ("Edit(~/.zshrc)", "ask", "runs in every new zsh"),
    ("Edit(~/.zprofile)", "ask", "runs in every login zsh"),
)


def default_rules() -> list[RuleSpec]:
    """DEFAULT_RULES as RuleSpecs with ids ``default-1``, ``default-2``..."""
    return [RuleSpec.parse(f"default-{n}", text, action)
            for n, (text, action, _) in enumerate(DEFAULT_RULES, 1)]
