//! The crate's error type, grouped by who is at fault.

/// Everything an OVSDB call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target string is not `unix:PATH` or `tcp:IP:PORT` (or names an unsupported
    /// transport such as `ssl:`).
    #[error("OVSDB target {target:?}: {reason}")]
    BadTarget { target: String, reason: String },

    /// The first connection attempt failed (only [`crate::Client::connect`] returns this;
    /// later attempts are retried in the background).
    #[error("cannot connect to OVSDB at {target}")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },

    /// There is no connection to the server right now (it is being re-established), or
    /// it broke while the request was in flight. A transaction that fails this way may or
    /// may not have been committed; read back before retrying a non-idempotent change.
    #[error("OVSDB at {target} is not connected (reconnecting); retry later")]
    Disconnected { target: String },

    /// The server rejected a transaction. `op_index` is the 0-based index of the failed
    /// operation; when the failure happened at commit (after every operation succeeded,
    /// e.g. a referential-integrity or unique-index violation), it equals the number of
    /// operations and `op` is `"commit"`.
    #[error("OVSDB transaction rejected at operation {op_index} ({op}{}): {error}{}",
        table.as_deref().map(|t| format!(" on table {t}")).unwrap_or_default(),
        details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Transaction {
        op_index: usize,
        op: &'static str,
        table: Option<String>,
        error: String,
        details: Option<String>,
    },

    /// The server answered a JSON-RPC request with an error (unknown method, unknown
    /// database, ...).
    #[error("OVSDB {method} failed: {error}")]
    Rpc { method: String, error: String },

    /// The peer sent something that is not valid OVSDB/JSON-RPC. `what` names where.
    #[error("malformed OVSDB data in {what}: {reason}")]
    Malformed { what: String, reason: String },

    /// The named object does not exist (e.g. the bridge a port should go on).
    #[error("{table} {name} does not exist")]
    NotFound { table: &'static str, name: String },

    /// A wait for a condition (e.g. an interface's ofport) ran out of time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        what: String,
        timeout: std::time::Duration,
    },

    /// The caller asked for something that cannot work (unknown table or column in a
    /// request, a missing object the operation needs).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
