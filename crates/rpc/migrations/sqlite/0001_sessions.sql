-- The sessions keyscope-rpc built: one row per (account, session id), never replaced (the first request keeps it).
CREATE TABLE keyscope_sessions (
    account    BLOB    NOT NULL CHECK (length(account) = 20),
    session_id BLOB    NOT NULL CHECK (length(session_id) = 32),
    -- The SessionSpec as JSON: the compiled session (permissions, Merkle tree) is recompiled from it.
    spec       TEXT    NOT NULL,
    -- How it was asked for: "keyscope", "particle" or {"erc7715": <the request as read>}.
    origin     TEXT    NOT NULL,
    -- length(spec) + length(origin), counted against --max-stored-bytes.
    bytes      INTEGER NOT NULL,
    -- Unix seconds.
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account, session_id)
) WITHOUT ROWID;

-- What the rows hold, kept with them in the same transactions (a single row): checked against the limits.
CREATE TABLE keyscope_store_usage (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sessions INTEGER NOT NULL,
    bytes    INTEGER NOT NULL
);
INSERT INTO keyscope_store_usage (id, sessions, bytes) VALUES (1, 0, 0);

-- An operator who deletes rows (old sessions) frees their room.
CREATE TRIGGER keyscope_sessions_deleted AFTER DELETE ON keyscope_sessions
BEGIN
    UPDATE keyscope_store_usage SET sessions = sessions - 1, bytes = bytes - OLD.bytes WHERE id = 1;
END;
