//! `sink discard`: drops every record (the run measures the pipeline, not a sink).

use std::io;

use crate::compile::row::Batch;

use super::RecordWriter;

pub struct Discard;

impl RecordWriter for Discard {
    fn write(&mut self, _batch: &Batch) -> io::Result<()> {
        Ok(())
    }
}
