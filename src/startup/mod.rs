//! The tops: one composition root per process, which reads its settings, builds every layer
//! below it and runs until its stop future resolves. Nothing in the library imports these; the
//! binaries in `src/bin/` and the tests do.

pub mod api;
pub mod worker;
