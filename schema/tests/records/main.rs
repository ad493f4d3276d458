//! The record codec: round trips, and golden fixtures that still decode.

mod golden_fixtures_still_decode;
mod record_round_trips;
