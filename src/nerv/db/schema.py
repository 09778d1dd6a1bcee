"""The schema, as the SQL each migration runs.

Table and column names follow docs/DATABASE.md (the spec). Timestamps are
INTEGER epoch milliseconds. Enumerations are CHECK constraints so that no
face (CLI, hook, web, import) can store a value the others do not understand.
"""

from __future__ import annotations

TASK_STATUSES = ("todo", "in_progress", "interrupted", "review", "done")
TASK_TYPES = ("implementation", "research", "bug-fix", "refactor", "debug", "docs", "test", "chore")
CYCLE_STATUSES = ("planned", "active", "completed")
SESSION_STATUSES = ("active", "idle", "completed", "interrupted", "failed")
REQUEST_STATUSES = ("pending", "approved", "denied", "expired")
RULE_ACTIONS = ("allow", "ask", "deny")
DECISION_STATUSES = ("proposed", "accepted", "superseded")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


CORE_TABLES = f"""
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0),
  goal TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX projects_created ON projects(created_at);

CREATE TABLE project_repos (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  default_branch TEXT NOT NULL DEFAULT 'main',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  UNIQUE (project_id, path)
);
CREATE INDEX project_repos_path ON project_repos(path);

CREATE TABLE cycles (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  number INTEGER NOT NULL CHECK (number > 0),
  goal TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN {_in(CYCLE_STATUSES)}),
  learnings TEXT,
  started_at INTEGER,
  completed_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  UNIQUE (project_id, number)
);

CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cycle_id TEXT,
  title TEXT NOT NULL CHECK (length(trim(title)) > 0),
  description TEXT,
  type TEXT NOT NULL DEFAULT 'implementation' CHECK (type IN {_in(TASK_TYPES)}),
  status TEXT NOT NULL DEFAULT 'todo' CHECK (status IN {_in(TASK_STATUSES)}),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (cycle_id) REFERENCES cycles(id)
);
-- "tasks by status" for one project is the board's and the spec's hot query.
CREATE INDEX tasks_project_status ON tasks(project_id, status, created_at);
CREATE INDEX tasks_cycle ON tasks(cycle_id) WHERE cycle_id IS NOT NULL;

-- project_id is nullable (the spec writes NOT NULL): usage ingested from a
-- Claude Code session outside every known repository is kept unassigned
-- until `nerv usage assign` gives it a project.
CREATE TABLE claude_sessions (
  id TEXT PRIMARY KEY,
  project_id TEXT,
  task_id TEXT,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN {_in(SESSION_STATUSES)}),
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  tokens_input INTEGER NOT NULL DEFAULT 0,
  tokens_output INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  claude_session_id TEXT UNIQUE,
  tokens_cache_read INTEGER NOT NULL DEFAULT 0,
  tokens_cache_write_5m INTEGER NOT NULL DEFAULT 0,
  tokens_cache_write_1h INTEGER NOT NULL DEFAULT 0,
  model TEXT,
  cwd TEXT,
  transcript_path TEXT,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (task_id) REFERENCES tasks(id)
);
-- Covering index: project cost is a SUM over this index alone.
CREATE INDEX claude_sessions_project_cost ON claude_sessions(project_id, cost_usd);
CREATE INDEX claude_sessions_task ON claude_sessions(task_id) WHERE task_id IS NOT NULL;
CREATE INDEX claude_sessions_started ON claude_sessions(started_at);
"""

PERMISSION_TABLES = f"""
CREATE TABLE approval_rules (
  id TEXT PRIMARY KEY,
  pattern TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN {_in(RULE_ACTIONS)}),
  tool TEXT NOT NULL CHECK (length(tool) > 0),
  created_at INTEGER NOT NULL,
  project_id TEXT,
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  note TEXT,
  updated_at INTEGER NOT NULL,
  -- Index key from nerv.permissions.candidate_key (e.g. a Bash rule's first
  -- literal word): lets the hook load only the rules a call could match.
  match_key TEXT NOT NULL DEFAULT '',
  FOREIGN KEY (project_id) REFERENCES projects(id)
);
CREATE INDEX approval_rules_lookup ON approval_rules(tool, match_key) WHERE enabled = 1;
CREATE UNIQUE INDEX approval_rules_unique
  ON approval_rules(tool, pattern, action, COALESCE(project_id, ''));

CREATE TABLE approval_requests (
  id TEXT PRIMARY KEY,
  project_id TEXT,
  session_id TEXT,
  task_id TEXT,
  tool_name TEXT NOT NULL,
  tool_input TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(tool_input)),
  cwd TEXT,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN {_in(REQUEST_STATUSES)}),
  reason TEXT,
  decided_by TEXT,
  decided_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (session_id) REFERENCES claude_sessions(id),
  FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE INDEX approval_requests_status ON approval_requests(status, created_at);
"""

KNOWLEDGE_TABLES = f"""
CREATE TABLE decisions (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cycle_id TEXT,
  title TEXT NOT NULL CHECK (length(trim(title)) > 0),
  context TEXT,
  decision TEXT,
  alternatives TEXT,
  consequences TEXT,
  status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN {_in(DECISION_STATUSES)}),
  superseded_by TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (cycle_id) REFERENCES cycles(id),
  FOREIGN KEY (superseded_by) REFERENCES decisions(id)
);
CREATE INDEX decisions_project ON decisions(project_id, created_at);

CREATE TABLE metrics (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  external_id TEXT UNIQUE,
  model TEXT,
  input_tokens INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cache_read_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_read_tokens >= 0),
  cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_5m_tokens >= 0),
  cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cache_write_1h_tokens >= 0),
  cost_usd REAL NOT NULL DEFAULT 0,
  recorded_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  FOREIGN KEY (session_id) REFERENCES claude_sessions(id)
);
CREATE INDEX metrics_session ON metrics(session_id);
CREATE INDEX metrics_recorded ON metrics(recorded_at);

-- A session's token and cost columns always include the sum of its metrics:
-- the database keeps them in step, whoever writes the metrics.
CREATE TRIGGER metrics_after_insert AFTER INSERT ON metrics BEGIN
  UPDATE claude_sessions SET
    tokens_input = tokens_input + NEW.input_tokens,
    tokens_output = tokens_output + NEW.output_tokens,
    tokens_cache_read = tokens_cache_read + NEW.cache_read_tokens,
    tokens_cache_write_5m = tokens_cache_write_5m + NEW.cache_write_5m_tokens,
    tokens_cache_write_1h = tokens_cache_write_1h + NEW.cache_write_1h_tokens,
    cost_usd = cost_usd + NEW.cost_usd
  WHERE id = NEW.session_id;
END;
CREATE TRIGGER metrics_after_delete AFTER DELETE ON metrics BEGIN
  UPDATE claude_sessions SET
    tokens_input = tokens_input - OLD.input_tokens,
    tokens_output = tokens_output - OLD.output_tokens,
    tokens_cache_read = tokens_cache_read - OLD.cache_read_tokens,
    tokens_cache_write_5m = tokens_cache_write_5m - OLD.cache_write_5m_tokens,
    tokens_cache_write_1h = tokens_cache_write_1h - OLD.cache_write_1h_tokens,
    cost_usd = cost_usd - OLD.cost_usd
  WHERE id = OLD.session_id;
END;
CREATE TRIGGER metrics_after_update AFTER UPDATE ON metrics BEGIN
  UPDATE claude_sessions SET
    tokens_input = tokens_input - OLD.input_tokens,
    tokens_output = tokens_output - OLD.output_tokens,
    tokens_cache_read = tokens_cache_read - OLD.cache_read_tokens,
    tokens_cache_write_5m = tokens_cache_write_5m - OLD.cache_write_5m_tokens,
    tokens_cache_write_1h = tokens_cache_write_1h - OLD.cache_write_1h_tokens,
    cost_usd = cost_usd - OLD.cost_usd
  WHERE id = OLD.session_id;
  UPDATE claude_sessions SET
    tokens_input = tokens_input + NEW.input_tokens,
    tokens_output = tokens_output + NEW.output_tokens,
    tokens_cache_read = tokens_cache_read + NEW.cache_read_tokens,
    tokens_cache_write_5m = tokens_cache_write_5m + NEW.cache_write_5m_tokens,
    tokens_cache_write_1h = tokens_cache_write_1h + NEW.cache_write_1h_tokens,
    cost_usd = cost_usd + NEW.cost_usd
  WHERE id = NEW.session_id;
END;

CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  action TEXT NOT NULL,
  before TEXT CHECK (before IS NULL OR json_valid(before)),
  after TEXT CHECK (after IS NULL OR json_valid(after))
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_entity ON audit_log(entity_type, entity_id, at);

-- Append-only, enforced where no client can bypass it.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;
"""

SETTINGS_TABLE = """
CREATE TABLE settings (
  id TEXT PRIMARY KEY,
  project_id TEXT,
  key TEXT NOT NULL CHECK (length(key) > 0),
  value TEXT NOT NULL CHECK (json_valid(value)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id)
);
-- One value per key per scope; the global scope is project_id IS NULL.
CREATE UNIQUE INDEX settings_scope_key ON settings(COALESCE(project_id, ''), key);
"""

# Usage ingest bookkeeping (nerv.service.usage). Two side tables, so the spec's
# tables (and the dataclasses built from `SELECT *` on them) keep their columns.
USAGE_INGEST_STATE = """
-- What `nerv usage ingest` has read of each file: a re-scan only stats files
-- whose (size, mtime_ns, inode) are unchanged, and a grown file is read from
-- read_offset (the end of its last complete line). head_hash is the SHA-1 of
-- the first head_len bytes (at most 1 KiB): if those change, or the inode
-- does, the file was rewritten and is read again from the start (metrics are
-- deduplicated by external_id, so nothing is counted twice).
CREATE TABLE ingested_files (
  path TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  mtime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  read_offset INTEGER NOT NULL DEFAULT 0 CHECK (read_offset >= 0),
  head_len INTEGER NOT NULL DEFAULT 0 CHECK (head_len >= 0),
  head_hash TEXT NOT NULL DEFAULT '',
  lines INTEGER NOT NULL DEFAULT 0,
  malformed INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Metrics of a model the price table does not know. metrics.cost_usd is NOT
-- NULL, so such a row holds 0 there; this flag says that 0 is "unknown", not
-- "free". Reports show the count; the row is repriced (and the flag dropped)
-- as soon as a price for the model exists (usage.prices setting).
CREATE TABLE unpriced_metrics (
  metric_id TEXT PRIMARY KEY REFERENCES metrics(id) ON DELETE CASCADE,
  model TEXT NOT NULL
) WITHOUT ROWID;
"""

# INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers
# (unless recursive_triggers is on), which would let any client rewrite an
# audit row in place. Refuse an insert whose id is already taken.
AUDIT_LOG_NO_REPLACE = """
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be replaced');
END;
"""

# Per-project cost, kept by triggers, so "project cost" is one primary-key read
# instead of a SUM over every session (the spec's query pattern; 100,000
# sessions cost ~7 ms to sum). Integer nano-dollars: adding and subtracting
# integers never drifts, whatever order sessions are written in. Derived data:
# export skips the table and import rebuilds it through the same triggers.
PROJECT_COSTS = """
CREATE TABLE project_costs (
  project_id TEXT PRIMARY KEY NOT NULL,
  cost_nanousd INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0
);
INSERT INTO project_costs (project_id, cost_nanousd, sessions)
  SELECT project_id, sum(CAST(round(cost_usd * 1e9) AS INTEGER)), count(*)
  FROM claude_sessions WHERE project_id IS NOT NULL GROUP BY project_id;

CREATE TRIGGER project_costs_session_insert AFTER INSERT ON claude_sessions
WHEN NEW.project_id IS NOT NULL BEGIN
  INSERT INTO project_costs (project_id, cost_nanousd, sessions)
    VALUES (NEW.project_id, CAST(round(NEW.cost_usd * 1e9) AS INTEGER), 1)
  ON CONFLICT (project_id) DO UPDATE SET
    cost_nanousd = cost_nanousd + excluded.cost_nanousd, sessions = sessions + 1;
END;
CREATE TRIGGER project_costs_session_delete AFTER DELETE ON claude_sessions
WHEN OLD.project_id IS NOT NULL BEGIN
  UPDATE project_costs SET
    cost_nanousd = cost_nanousd - CAST(round(OLD.cost_usd * 1e9) AS INTEGER), sessions = sessions - 1
  WHERE project_id = OLD.project_id;
END;
CREATE TRIGGER project_costs_session_update AFTER UPDATE OF cost_usd, project_id ON claude_sessions
WHEN OLD.cost_usd IS NOT NEW.cost_usd OR OLD.project_id IS NOT NEW.project_id BEGIN
  UPDATE project_costs SET
    cost_nanousd = cost_nanousd - CAST(round(OLD.cost_usd * 1e9) AS INTEGER), sessions = sessions - 1
  WHERE project_id = OLD.project_id;
  INSERT INTO project_costs (project_id, cost_nanousd, sessions)
    SELECT NEW.project_id, CAST(round(NEW.cost_usd * 1e9) AS INTEGER), 1 WHERE NEW.project_id IS NOT NULL
  ON CONFLICT (project_id) DO UPDATE SET
    cost_nanousd = cost_nanousd + excluded.cost_nanousd, sessions = sessions + 1;
END;
CREATE TRIGGER project_costs_project_delete AFTER DELETE ON projects BEGIN
  DELETE FROM project_costs WHERE project_id = OLD.id;
END;
"""

# What Claude Code reports about itself (nerv serve, nerv statusline), next to
# what nerv derives from transcripts:
# * session_reports: the session cost Claude Code's statusline shows, one row
#   per session, so `nerv usage reconcile` can compare the two figures;
# * rate_limit_snapshots: the plan-limit use (5-hour and 7-day windows) as the
#   statusline reports it, one row each time a window's figure changes;
# * metrics rows from OpenTelemetry ``api_request`` events have the external id
#   ``otel:<request id>``; a transcript row carries the same request id after
#   its message id (``msg:req``). The index finds either by request id, and the
#   trigger drops the telemetry copy when the transcript's row arrives, so a
#   response is never counted twice whichever comes first.
LIVE_TELEMETRY = """
CREATE TABLE session_reports (
  id TEXT PRIMARY KEY,
  claude_session_id TEXT NOT NULL UNIQUE,
  cost_usd REAL NOT NULL CHECK (cost_usd >= 0),
  duration_ms INTEGER,
  lines_added INTEGER,
  lines_removed INTEGER,
  model TEXT,
  cwd TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE rate_limit_snapshots (
  id TEXT PRIMARY KEY,
  period TEXT NOT NULL CHECK (period IN ('five_hour', 'seven_day')),
  used_percentage REAL NOT NULL CHECK (used_percentage >= 0),
  resets_at INTEGER,
  claude_session_id TEXT,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX rate_limit_snapshots_period ON rate_limit_snapshots(period, recorded_at);

CREATE INDEX metrics_request ON metrics(substr(external_id, instr(external_id, ':') + 1));
CREATE TRIGGER metrics_replace_telemetry AFTER INSERT ON metrics
WHEN NEW.external_id NOT LIKE 'otel:%' AND instr(NEW.external_id, ':') > 0 BEGIN
  DELETE FROM metrics WHERE external_id = 'otel:' || substr(NEW.external_id, instr(NEW.external_id, ':') + 1);
END;
"""
