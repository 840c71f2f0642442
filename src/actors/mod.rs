//! Actors. One file per actor, holding the actor, its messages and its handlers.

pub mod reservation;
