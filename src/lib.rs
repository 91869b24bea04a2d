//! flowc: compiles and runs `.flow` stream pipelines and explains why they
//! are slow.
//!
//! Data flows one way: `syntax` → `check` → `plan` → `compile` → `runtime`
//! → `report`, with `diag` beside them all. See ARCHITECTURE.md.

pub mod check;
pub mod cli;
pub mod compile;
pub mod diag;
pub mod export;
pub mod format;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod runtime;
pub mod syntax;
pub mod tune;
