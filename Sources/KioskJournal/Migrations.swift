/// One named schema step. Steps are append-only: a released step is never edited or reordered;
/// a change to the schema is a new step at the end. `schema_migrations` records which ran.
struct Migration: Sendable {
    let identifier: String
    let sql: String
}

enum JournalSchema {
    /// Every step, in order.
    static let migrations: [Migration] = [
        Migration(
            identifier: "v1-sessions-and-events",
            sql: """
                CREATE TABLE sessions (
                    id INTEGER PRIMARY KEY,
                    trade_no TEXT NOT NULL UNIQUE,
                    vend_id TEXT NOT NULL,
                    product TEXT NOT NULL,
                    item_description TEXT NOT NULL,
                    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
                    currency TEXT NOT NULL,
                    minor_digits INTEGER NOT NULL CHECK (minor_digits BETWEEN 0 AND 18),
                    state TEXT NOT NULL,
                    reference TEXT,
                    provider_invoice_id TEXT,
                    qr_payload TEXT,
                    -- times: integer milliseconds since 1970-01-01T00:00:00Z (UTC)
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    payment_deadline INTEGER,
                    paid_at INTEGER,
                    note TEXT
                );
                CREATE INDEX sessions_vend_id ON sessions (vend_id);
                CREATE INDEX sessions_state ON sessions (state);

                -- Append-only history of every session; pruned only with its session.
                CREATE TABLE session_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    trade_no TEXT NOT NULL REFERENCES sessions (trade_no) ON DELETE CASCADE,
                    at INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    detail TEXT NOT NULL
                );
                CREATE INDEX session_events_trade_no ON session_events (trade_no, id);

                -- The last counter used in a trade number: monotonic, whatever the clock does.
                CREATE TABLE trade_no_counter (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    last INTEGER NOT NULL
                );
                INSERT INTO trade_no_counter (id, last) VALUES (1, 0);

                -- Defence in depth for the money-safety rules, also against hand edits:
                -- a final session never changes, and events are never rewritten.
                CREATE TRIGGER sessions_final_is_immutable BEFORE UPDATE ON sessions
                WHEN OLD.state IN ('dispensed', 'cancelled', 'refund_due', 'dispense_unknown', 'failed')
                BEGIN
                    SELECT RAISE(ABORT, 'a session in a final state never changes');
                END;
                CREATE TRIGGER session_events_are_append_only BEFORE UPDATE ON session_events
                BEGIN
                    SELECT RAISE(ABORT, 'session events are append-only');
                END;
                """),
        Migration(
            identifier: "v2-write-probe",
            sql: """
                -- One row the daemon rewrites to learn whether the storage takes writes (watchdog,
                -- and coming back in service after a full or read-only card).
                CREATE TABLE write_probe (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    count INTEGER NOT NULL,
                    at INTEGER NOT NULL
                );
                INSERT INTO write_probe (id, count, at) VALUES (1, 0, 0);
                """),
        Migration(
            identifier: "v3-mdb-vend-id-counter",
            sql: """
                -- The last MDB vend number handed out (MDB has no vend ids; the daemon names each
                -- vend request). Reserved in blocks, only grows: never repeated across restarts,
                -- clock steps or power cuts.
                CREATE TABLE mdb_vend_counter (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    last INTEGER NOT NULL
                );
                INSERT INTO mdb_vend_counter (id, last) VALUES (1, 0);
                """),
        Migration(
            identifier: "v4-session-resolutions",
            sql: """
                -- An operator's settlement of a session in an audit state (`journal resolve`): one row
                -- per session, written once. The session row keeps its state and history.
                CREATE TABLE session_resolutions (
                    trade_no TEXT PRIMARY KEY NOT NULL REFERENCES sessions (trade_no),
                    state TEXT NOT NULL,
                    resolved_at INTEGER NOT NULL,
                    resolved_by TEXT NOT NULL CHECK (length(trim(resolved_by)) > 0),
                    note TEXT NOT NULL CHECK (length(trim(note)) > 0)
                );

                -- Only a session in an audit state, and in the state the row names. The states
                -- listed are the ones an operator never settles, so that an audit state added later
                -- needs no new step here.
                CREATE TRIGGER session_resolutions_need_an_audit_state BEFORE INSERT ON session_resolutions
                WHEN NOT EXISTS (
                    SELECT 1 FROM sessions WHERE trade_no = NEW.trade_no AND state = NEW.state
                        AND state NOT IN (
                            'requested', 'invoiced', 'paid', 'dispensing', 'dispensed', 'cancelled', 'failed')
                )
                BEGIN
                    SELECT RAISE(ABORT, 'only a session in an audit state, in that state, can be resolved');
                END;
                CREATE TRIGGER session_resolutions_are_append_only_update BEFORE UPDATE ON session_resolutions
                BEGIN
                    SELECT RAISE(ABORT, 'session resolutions are append-only');
                END;
                CREATE TRIGGER session_resolutions_are_append_only_delete BEFORE DELETE ON session_resolutions
                BEGIN
                    SELECT RAISE(ABORT, 'session resolutions are append-only');
                END;

                -- The daemon (or a hand edit) never changes or deletes a resolved session, whatever
                -- its state: the operator settled exactly what the row said.
                CREATE TRIGGER resolved_session_is_immutable BEFORE UPDATE ON sessions
                WHEN EXISTS (SELECT 1 FROM session_resolutions WHERE trade_no = OLD.trade_no)
                BEGIN
                    SELECT RAISE(ABORT, 'a resolved session never changes');
                END;
                CREATE TRIGGER resolved_session_is_kept BEFORE DELETE ON sessions
                WHEN EXISTS (SELECT 1 FROM session_resolutions WHERE trade_no = OLD.trade_no)
                BEGIN
                    SELECT RAISE(ABORT, 'a resolved session is never deleted');
                END;
                """),
        Migration(
            identifier: "v5-unresolved-is-final",
            sql: """
                -- `unresolved` (the API could not tell within the settling budget) is final like the
                -- other ends: the trigger that keeps final sessions unchanged names it too.
                DROP TRIGGER sessions_final_is_immutable;
                CREATE TRIGGER sessions_final_is_immutable BEFORE UPDATE ON sessions
                WHEN OLD.state IN ('dispensed', 'cancelled', 'refund_due', 'dispense_unknown', 'unresolved', 'failed')
                BEGIN
                    SELECT RAISE(ABORT, 'a session in a final state never changes');
                END;
                """),
        Migration(
            identifier: "v6-trade-no-lookups",
            sql: """
                -- How far a trade_no lookup (a lost create's invoice looked for in GET /invoices) has
                -- read, so that a restart goes on from there instead of reading page 1 again. The text
                -- is the API client's own (opaque here); the row goes with its session.
                CREATE TABLE trade_no_lookups (
                    trade_no TEXT PRIMARY KEY NOT NULL REFERENCES sessions (trade_no) ON DELETE CASCADE,
                    progress TEXT NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                """),
    ]
}
