//! Benchmarks of the timelog engine (see benches/).
