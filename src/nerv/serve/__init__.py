"""``nerv serve``: the live control plane.

One long-running local HTTP server that carries the dashboard and, behind a
bearer token, the machine endpoints Claude Code talks to:

* ``token``: the bearer token, created on first start in ``$NERV_HOME/serve.token`` (0600);
* ``hookcall``: ``POST /hooks/claude`` -- the same decision function ``nerv-hook`` runs;
* ``otlp``: ``POST /v1/logs`` and ``/v1/metrics`` (OTLP/HTTP, JSON encoding);
* ``live``: the change feed behind ``GET /api/events`` (server-sent events) and
  what each active session is doing;
* ``server``: the HTTP server tying them to the dashboard's.
"""
