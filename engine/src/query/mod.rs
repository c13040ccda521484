//! Reads: planning (`plan`), the owning k-way merge (`cursor`), point
//! lookups and navigation (`point`).

pub(crate) mod cursor;
pub(crate) mod histogram;
pub(crate) mod plan;
pub(crate) mod point;
