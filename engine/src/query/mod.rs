//! Reads: what a read sees (`view`: the view, its sources and the one
//! visibility rule), planning into visible spans (`plan`), the owning
//! run-emitting k-way merge (`cursor`), point lookups and navigation
//! (`point`), time-bucket counts (`histogram`), and the owned read handle
//! (`snapshot`: a [`Snapshot`](snapshot::Snapshot) — a manifest, a
//! watermark and a pin — and the page spans it exports, made by the
//! catalog's one snapshot function); `dir` makes the direction of a walk a
//! type, so each walk is written once. The read layer imports the
//! manifest and its parts, never the components that publish them.

pub(crate) mod cursor;
pub(crate) mod dir;
pub(crate) mod histogram;
pub(crate) mod plan;
pub(crate) mod point;
pub(crate) mod snapshot;
pub(crate) mod view;
