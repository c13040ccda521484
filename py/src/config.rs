//! Parsing the keyword configuration of `Timelog(...)`, `reopen(...)` and
//! `configure(...)` into an engine [`Config`].
//!
//! The binding converts Python values (types, `__index__`, the C package's
//! flat legacy keywords); every rule and every message about a value is
//! the engine's (`timelog::config`: `rule`, `invalid_value`, `too_large`,
//! `not_one_of`, `unknown_key`, and `Config` validation when the log is
//! built), mapped to Python classes by `convert::err` (`ValueError`) — and
//! to `OverflowError` for a Python int wider than the knob's field, the
//! one case the engine cannot see.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use timelog::config::{ADAPTIVE_KEYS, COMPACTION_KEYS};
use timelog::{AdaptiveConfig, BusyPolicy, CompactionConfig, Config, MaintenanceMode, TimeUnit};

use crate::convert::{coerce_ts, err, interp};

pub const KEYS: &[&str] = &[
    "time_unit",
    "maintenance",
    "busy_policy",
    "min_ts",
    "mostly_ordered_default",
    "memtable_max_bytes",
    "target_page_bytes",
    "sealed_max_runs",
    "ooo_budget_bytes",
    "sealed_wait_ms",
    "drain_batch_limit",
    "maintenance_wakeup_ms",
    "maintenance_nice",
    "max_delta_segments",
    "window_size",
    "window_origin",
    "delete_debt_threshold",
    "compaction",
    "adaptive",
];

/// The C package's flat legacy keywords: `(flat name, dict, key in the dict)`.
/// Each sets exactly what the dict form sets.
pub const FLAT: &[(&str, &str, &str)] = &[
    ("adaptive_target_records", "adaptive", "target_records"),
    ("adaptive_min_window", "adaptive", "min_window"),
    ("adaptive_max_window", "adaptive", "max_window"),
    ("adaptive_hysteresis_pct", "adaptive", "hysteresis_pct"),
    ("adaptive_window_quantum", "adaptive", "window_quantum"),
    ("adaptive_alpha", "adaptive", "alpha"),
    ("adaptive_warmup_flushes", "adaptive", "warmup_flushes"),
    ("adaptive_stale_flushes", "adaptive", "stale_flushes"),
    ("adaptive_failure_backoff_threshold", "adaptive", "failure_backoff_threshold"),
    ("adaptive_failure_backoff_pct", "adaptive", "failure_backoff_pct"),
    ("compaction_target_bytes", "compaction", "target_bytes"),
    ("max_compaction_inputs", "compaction", "max_inputs"),
    ("max_compaction_windows", "compaction", "max_windows"),
];

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
}

fn repr(v: &Bound<'_, PyAny>) -> String {
    v.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into())
}

/// A named choice (`time_unit`, ...): a str parsed by the engine; any
/// other value gets the engine's message with its repr.
fn choice<T>(name: &str, v: &Bound<'_, PyAny>, names: &[&str], parse: fn(&str) -> timelog::Result<T>) -> PyResult<T> {
    match v.cast::<PyString>() {
        Ok(s) => parse(s.to_str()?).map_err(err),
        Err(_) => Err(err(timelog::config::not_one_of(name, names, repr(v)))),
    }
}

/// A Python int wider than the knob's field: the engine's message, with
/// CPython's class for a value that does not fit a C type.
fn overflow(e: timelog::Error) -> PyErr {
    PyOverflowError::new_err(e.to_string())
}

/// An integer knob as Python sees it: `operator.index(v)` (so numpy
/// integers work and a float is refused with CPython's own message), bools
/// refused, then range-checked against `lo..=hi` with the engine's rule for
/// `knob` (`timelog::config::rule`). A negative value raises `ValueError`;
/// one above `hi` raises `OverflowError` when `hi` is the limit of the
/// knob's type (`Above::Overflow`, CPython's class for that) and
/// `ValueError` when it is the knob's own rule (`Above::Invalid`). Every
/// message prints the value the caller gave.
fn int_in(name: &str, knob: &str, v: &Bound<'_, PyAny>, lo: i128, hi: i128, above: Above) -> PyResult<i128> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{name} must be an int, not bool")));
    }
    let py = v.py();
    let i = py.import("operator")?.getattr("index")?.call1((v,)).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(format!("{name} must be an int, got {}: {}", type_name(v), e.value(py)))
        } else {
            e
        }
    })?;
    let got = repr(&i);
    match i.extract::<i128>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(n) if n < lo => Err(err(timelog::config::invalid_value(name, knob, got))),
        _ if i.lt(0)? => Err(err(timelog::config::invalid_value(name, knob, got))),
        _ if above == Above::Overflow => Err(overflow(timelog::config::too_large(name, knob, got))),
        _ => Err(err(timelog::config::invalid_value(name, knob, got))),
    }
}

/// What a value above the upper bound of [`int_in`] is.
#[derive(PartialEq, Eq)]
enum Above {
    /// Beyond the knob's type (`OverflowError`).
    Overflow,
    /// Against the knob's rule (`ValueError`).
    Invalid,
}

fn uint<T: TryFrom<u64>>(name: &str, knob: &str, v: &Bound<'_, PyAny>) -> PyResult<T> {
    // The largest value `T` holds (u32, usize, u64).
    let hi = (0..=64u32)
        .rev()
        .map(|b| if b == 64 { u64::MAX } else { (1u64 << b) - 1 })
        .find(|&m| T::try_from(m).is_ok())
        .unwrap_or(0);
    let n = int_in(name, knob, v, 0, hi as i128, Above::Overflow)?;
    T::try_from(n as u64).map_err(|_| overflow(timelog::config::too_large(name, knob, n)))
}

/// A non-negative `i64` knob (windows): `[0, 2**63 - 1]`.
fn nonneg_i64(name: &str, knob: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    Ok(int_in(name, knob, v, 0, i64::MAX as i128, Above::Overflow)? as i64)
}

/// A niceness: `None` (engine default) or `[0, 19]`.
fn nice(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<u8>> {
    if v.is_none() {
        return Ok(None);
    }
    let n = int_in(name, "maintenance_nice", v, 0, 19, Above::Invalid)?;
    Ok(Some(n as u8))
}

fn int64(name: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    coerce_ts(v).map_err(|e| {
        let py = v.py();
        // Settled: asking a lazy error its class would detach and re-attach.
        let e = interp::settled(py, e);
        PyErr::from_type(e.get_type(py), format!("{name}: {}", e.value(py)))
    })
}

/// A float knob; finiteness and range are the engine's rules (`resolve`).
fn float(name: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    v.extract::<f64>().map_err(|_| PyTypeError::new_err(format!("{name} must be a float, got {}", type_name(v))))
}

/// `(key, value)` entries of a `compaction`/`adaptive` dict.
type Entries<'py> = Vec<(String, Bound<'py, PyAny>)>;
/// `(key, name as the caller spelled it, value)`.
type NamedEntries<'py> = Vec<(String, String, Bound<'py, PyAny>)>;

/// The entries of a `compaction`/`adaptive` dict: string keys from `keys`.
fn sub_dict<'py>(name: &str, v: &Bound<'py, PyAny>, keys: &[&str]) -> PyResult<Option<Entries<'py>>> {
    if v.is_none() {
        return Ok(None);
    }
    let d = v
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a dict or None, got {}", type_name(v))))?;
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let Ok(ks) = k.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!("{name} keys must be str, got {} {}", type_name(&k), repr(&k))));
        };
        let ks = ks.to_str()?.to_owned();
        if !keys.contains(&ks.as_str()) {
            return Err(err(timelog::config::unknown_key(name, repr(&k))));
        }
        out.push((ks, v));
    }
    Ok(Some(out))
}

fn set_compaction(cc: &mut CompactionConfig, key: &str, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    let knob = format!("compaction.{key}");
    match key {
        "target_bytes" => cc.target_bytes = uint(name, &knob, v)?,
        "max_inputs" => cc.max_inputs = uint(name, &knob, v)?,
        _ => cc.max_windows = uint(name, &knob, v)?,
    }
    Ok(())
}

fn set_adaptive(a: &mut AdaptiveConfig, key: &str, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
    let knob = format!("adaptive.{key}");
    match key {
        "target_records" => a.target_records = uint(name, &knob, v)?,
        "min_window" => a.min_window = nonneg_i64(name, &knob, v)?,
        "max_window" => a.max_window = nonneg_i64(name, &knob, v)?,
        "hysteresis_pct" => a.hysteresis_pct = uint(name, &knob, v)?,
        "window_quantum" => a.window_quantum = nonneg_i64(name, &knob, v)?,
        "alpha" => a.alpha = float(name, v)?,
        "warmup_flushes" => a.warmup_flushes = uint(name, &knob, v)?,
        "stale_flushes" => a.stale_flushes = uint(name, &knob, v)?,
        "failure_backoff_threshold" => a.failure_backoff_threshold = uint(name, &knob, v)?,
        _ => a.failure_backoff_pct = uint(name, &knob, v)?,
    }
    Ok(())
}

/// The entries of one section (`adaptive` or `compaction`): its dict's,
/// then the flat keywords', refusing a knob given both ways.
fn section<'py>(
    dict_name: &str,
    dict: Option<Entries<'py>>,
    flat: &[(&'static str, &'static str, Bound<'py, PyAny>)],
) -> PyResult<Option<NamedEntries<'py>>> {
    let from_flat: Vec<_> = flat.iter().filter(|(_, sec, _)| *sec == dict_name).collect();
    if dict.is_none() && from_flat.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    let dict = dict.unwrap_or_default();
    for (k, v) in &dict {
        out.push((k.clone(), format!("{dict_name}[{k:?}]").replace('"', "'"), v.clone()));
    }
    for (flat_name, _, v) in from_flat {
        let key = FLAT.iter().find(|(f, _, _)| f == flat_name).map(|(_, _, k)| *k).unwrap_or_default();
        if dict.iter().any(|(k, _)| k == key) {
            // As in the C package, a flat value of the wrong type is
            // reported first (its TypeError), then the conflict.
            if dict_name == "adaptive" {
                set_adaptive(&mut AdaptiveConfig::default(), key, flat_name, v)?;
            } else {
                set_compaction(&mut CompactionConfig::default(), key, flat_name, v)?;
            }
            return Err(PyValueError::new_err(format!(
                "Cannot specify both {flat_name} and {dict_name}={{'{key}': ...}}; give the knob once (the dict form is preferred)"
            )));
        }
        out.push((key.to_owned(), (*flat_name).to_owned(), v.clone()));
    }
    Ok(Some(out))
}

/// Builds a config from keyword arguments. `carry` supplies `min_ts` and
/// `mostly_ordered_default` when they are not given (reopen/configure).
pub fn parse(kwargs: Option<&Bound<'_, PyDict>>, carry: Option<&Config>, what: &str) -> PyResult<Config> {
    let mut c = Config::default();
    if let Some(prev) = carry {
        c.min_ts = prev.min_ts;
        c.mostly_ordered_default = prev.mostly_ordered_default;
    }
    let Some(kw) = kwargs else { return Ok(c) };
    let mut adaptive = None;
    let mut compaction = None;
    let mut flat = Vec::new();
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "time_unit" => c.time_unit = choice(&key, &v, TimeUnit::NAMES, TimeUnit::parse)?,
            "maintenance" => c.maintenance = choice(&key, &v, MaintenanceMode::NAMES, MaintenanceMode::parse)?,
            "busy_policy" => c.busy_policy = choice(&key, &v, BusyPolicy::NAMES, BusyPolicy::parse)?,
            "min_ts" => c.min_ts = if v.is_none() { None } else { Some(int64("min_ts", &v)?) },
            "mostly_ordered_default" => {
                c.mostly_ordered_default = v
                    .cast::<pyo3::types::PyBool>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!("mostly_ordered_default must be a bool, got {}", repr(&v)))
                    })?
                    .is_true()
            }
            "memtable_max_bytes" => c.memtable_max_bytes = uint(&key, &key, &v)?,
            "target_page_bytes" => c.target_page_bytes = uint(&key, &key, &v)?,
            "sealed_max_runs" => c.sealed_max_runs = uint(&key, &key, &v)?,
            "ooo_budget_bytes" => c.ooo_budget_bytes = uint(&key, &key, &v)?,
            "sealed_wait_ms" => c.sealed_wait_ms = uint(&key, &key, &v)?,
            "drain_batch_limit" => c.drain_batch_limit = uint(&key, &key, &v)?,
            "maintenance_wakeup_ms" => c.maintenance_wakeup_ms = uint(&key, &key, &v)?,
            "maintenance_nice" => c.maintenance_nice = nice(&key, &v)?,
            "max_delta_segments" => c.max_delta_segments = uint(&key, &key, &v)?,
            "window_size" => c.window_size = nonneg_i64(&key, &key, &v)?,
            "window_origin" => c.window_origin = int64(&key, &v)?,
            "delete_debt_threshold" => c.delete_debt_threshold = float(&key, &v)?,
            "compaction" => compaction = sub_dict("compaction", &v, COMPACTION_KEYS)?,
            "adaptive" => adaptive = sub_dict("adaptive", &v, ADAPTIVE_KEYS)?,
            other => match FLAT.iter().find(|(f, _, _)| *f == other) {
                Some(&(f, sec, _)) => flat.push((f, sec, v.clone())),
                None => {
                    return Err(PyTypeError::new_err(format!(
                    "{what} got an unexpected keyword argument '{other}'; accepted: {}, and the legacy flat forms {}",
                    KEYS.join(", "),
                    FLAT.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                )))
                }
            },
        }
    }
    if let Some(entries) = section("compaction", compaction, &flat)? {
        let mut cc = CompactionConfig::default();
        for (k, name, v) in &entries {
            set_compaction(&mut cc, k, name, v)?;
        }
        c.compaction = cc;
    }
    if let Some(entries) = section("adaptive", adaptive, &flat)? {
        let mut a = AdaptiveConfig::default();
        for (k, name, v) in &entries {
            set_adaptive(&mut a, k, name, v)?;
        }
        c.adaptive = a;
    }
    Ok(c)
}
