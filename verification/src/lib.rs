//! Model-checking suites of the timelog protocol (see tests/).
