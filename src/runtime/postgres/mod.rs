//! PostgreSQL, for the `postgres` sink (`sinks/postgres.rs`) and lookup
//! tables (`lookup.rs` here): reaching a server from a URL or the standard
//! `PG*` environment variables (`connect.rs`), the table's columns read from
//! the catalog and checked against a record type before the first row
//! (`columns.rs`), rows in COPY's text format (`copy.rs`), and the server's
//! errors in words.
//!
//! The client is the synchronous `postgres` crate: a subtask is a thread
//! that must wait for its database call anyway, and the crate's blocking
//! calls put that wait where the subtask's time accounting sees it. It
//! runs a small tokio runtime per connection under the hood, which costs
//! a thread per connection and nothing per call that matters here.

pub mod async_lookup;
pub mod columns;
pub mod connect;
pub mod copy;
pub mod lookup;

pub use connect::{connect, Server};

/// What to do when the server cannot be reached or fails.
pub const SERVER_HELP: &str = "start the server, or say where it is: `url = \"postgres://user@host:5432/db\"`, or PGHOST, PGPORT, PGUSER and PGDATABASE";

/// A server's error as one line: its message and SQLSTATE, with its detail
/// and hint when it gives them; a connection's error with its cause.
pub fn describe_error(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    if error.is_closed() && !text.contains("closed") {
        text.push_str(" (the connection is closed)");
    }
    text
}

/// `name` as a quoted SQL identifier: `"amount"`, `"Odd ""name"""`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
