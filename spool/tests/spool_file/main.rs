//! The spool file's behaviour, one module per promise.

mod record_dictionaries_travel_with_their_records;
mod spool_budget_and_states_are_counted_exactly;
mod sqlite_is_new_enough_for_several_processes;
mod the_tallies_match_a_model_of_every_operation;
