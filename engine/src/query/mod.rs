//! Reads: what a read sees (`view`: the view, its sources and the one
//! visibility rule), planning into visible spans (`plan`), the owning
//! run-emitting k-way merge (`cursor`), point lookups and navigation
//! (`point`), time-bucket counts (`histogram`); `dir` makes the direction
//! of a walk a type, so each walk is written once.

pub(crate) mod cursor;
pub(crate) mod dir;
pub(crate) mod histogram;
pub(crate) mod plan;
pub(crate) mod point;
pub(crate) mod view;
