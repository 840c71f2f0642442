//! What only the API process runs (besides its actors in `src/actors/` and its HTTP surface in
//! `src/http/`): the application that wires them, the sale lifecycle, the purchase strategies,
//! the per-process caches and stock streams, and admission (the admitter, purchase tokens). Nothing here is imported by `worker`.

pub mod admitter;
pub mod app;
pub mod reaper;
pub mod rounds;
pub mod sales;
pub mod seed;
pub mod sold_out;
pub mod stock_watch;
pub mod strategies;
pub mod tokens;
