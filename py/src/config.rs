//! Parsing the keyword configuration of `Timelog(...)`, `reopen(...)` and
//! `configure(...)` into an engine [`Config`].

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use timelog::{AdaptiveConfig, BusyPolicy, CompactionConfig, Config, MaintenanceMode, TimeUnit};

use crate::convert::coerce_ts;

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

const COMPACTION_KEYS: &[&str] = &["target_bytes", "max_inputs", "max_windows"];
const ADAPTIVE_KEYS: &[&str] = &[
    "target_records",
    "min_window",
    "max_window",
    "hysteresis_pct",
    "window_quantum",
    "alpha",
    "warmup_flushes",
    "stale_flushes",
    "failure_backoff_threshold",
    "failure_backoff_pct",
];

fn str_arg<'py>(name: &str, v: &Bound<'py, PyAny>, accepted: &str) -> PyResult<String> {
    match v.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(PyValueError::new_err(format!("{name} must be one of {accepted}, got {}", v.repr()?))),
    }
}

/// A niceness in [0, 19].
fn nice(name: &str, v: &Bound<'_, PyAny>) -> PyResult<u8> {
    let n: u64 = uint(name, v)?;
    if n > 19 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a niceness in [0, 19] (None = engine default 10), got {n}"
        )));
    }
    Ok(n as u8)
}

fn uint<T: TryFrom<u64>>(name: &str, v: &Bound<'_, PyAny>) -> PyResult<T> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{name} must be an int, not bool")));
    }
    let i: i128 = v.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be an int, got {}",
            v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    if i < 0 {
        return Err(PyValueError::new_err(format!("{name} must be >= 0 (0 = engine default), got {i}")));
    }
    u64::try_from(i)
        .ok()
        .and_then(|u| T::try_from(u).ok())
        .ok_or_else(|| PyValueError::new_err(format!("{name} is too large: {i}")))
}

fn int64(name: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    coerce_ts(v).map_err(|e| {
        let py = v.py();
        PyErr::from_type(e.get_type(py), format!("{name}: {}", e.value(py)))
    })
}

fn float(name: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    v.extract::<f64>().map_err(|_| PyTypeError::new_err(format!("{name} must be a float")))
}

fn sub_dict<'py>(name: &str, v: &Bound<'py, PyAny>, keys: &[&str]) -> PyResult<Option<Bound<'py, PyDict>>> {
    if v.is_none() {
        return Ok(None);
    }
    let d = v.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a dict (or None), got {}",
            v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    for k in d.keys() {
        let ks: String = k.str()?.to_string();
        if !keys.contains(&ks.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown {name} key {ks:?}; accepted keys: {}",
                keys.join(", ")
            )));
        }
    }
    Ok(Some(d.clone()))
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
    for (k, v) in kw.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "time_unit" => {
                c.time_unit = TimeUnit::parse(&str_arg("time_unit", &v, "'s', 'ms', 'us', 'ns'")?)
                    .map_err(|e| PyValueError::new_err(e.to_string().replace("invalid configuration: ", "")))?
            }
            "maintenance" => {
                c.maintenance = MaintenanceMode::parse(&str_arg("maintenance", &v, "'background', 'disabled'")?)
                    .map_err(|e| PyValueError::new_err(e.to_string().replace("invalid configuration: ", "")))?
            }
            "busy_policy" => {
                c.busy_policy = BusyPolicy::parse(&str_arg("busy_policy", &v, "'raise', 'silent', 'flush'")?)
                    .map_err(|e| PyValueError::new_err(e.to_string().replace("invalid configuration: ", "")))?
            }
            "min_ts" => c.min_ts = if v.is_none() { None } else { Some(int64("min_ts", &v)?) },
            "mostly_ordered_default" => {
                c.mostly_ordered_default = v
                    .cast::<pyo3::types::PyBool>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "mostly_ordered_default must be a bool, got {}",
                            v.repr().map(|r| r.to_string()).unwrap_or_default()
                        ))
                    })?
                    .is_true()
            }
            "memtable_max_bytes" => c.memtable_max_bytes = uint(&key, &v)?,
            "target_page_bytes" => c.target_page_bytes = uint(&key, &v)?,
            "sealed_max_runs" => c.sealed_max_runs = uint(&key, &v)?,
            "ooo_budget_bytes" => c.ooo_budget_bytes = uint(&key, &v)?,
            "sealed_wait_ms" => c.sealed_wait_ms = uint(&key, &v)?,
            "drain_batch_limit" => c.drain_batch_limit = uint(&key, &v)?,
            "maintenance_wakeup_ms" => c.maintenance_wakeup_ms = uint(&key, &v)?,
            "maintenance_nice" => c.maintenance_nice = if v.is_none() { None } else { Some(nice(&key, &v)?) },
            "max_delta_segments" => c.max_delta_segments = uint(&key, &v)?,
            "window_size" => c.window_size = uint::<u64>(&key, &v)? as i64,
            "window_origin" => c.window_origin = int64(&key, &v)?,
            "delete_debt_threshold" => c.delete_debt_threshold = float(&key, &v)?,
            "compaction" => {
                if let Some(d) = sub_dict("compaction", &v, COMPACTION_KEYS)? {
                    let mut cc = CompactionConfig::default();
                    for (k, v) in d.iter() {
                        let k: String = k.str()?.to_string();
                        let name = format!("compaction[{k:?}]");
                        match k.as_str() {
                            "target_bytes" => cc.target_bytes = uint(&name, &v)?,
                            "max_inputs" => cc.max_inputs = uint(&name, &v)?,
                            _ => cc.max_windows = uint(&name, &v)?,
                        }
                    }
                    c.compaction = cc;
                }
            }
            "adaptive" => {
                if let Some(d) = sub_dict("adaptive", &v, ADAPTIVE_KEYS)? {
                    let mut a = AdaptiveConfig::default();
                    for (k, v) in d.iter() {
                        let k: String = k.str()?.to_string();
                        let name = format!("adaptive[{k:?}]");
                        match k.as_str() {
                            "target_records" => a.target_records = uint(&name, &v)?,
                            "min_window" => a.min_window = uint::<u64>(&name, &v)? as i64,
                            "max_window" => a.max_window = uint::<u64>(&name, &v)? as i64,
                            "hysteresis_pct" => a.hysteresis_pct = uint(&name, &v)?,
                            "window_quantum" => a.window_quantum = uint::<u64>(&name, &v)? as i64,
                            "alpha" => a.alpha = float(&name, &v)?,
                            "warmup_flushes" => a.warmup_flushes = uint(&name, &v)?,
                            "stale_flushes" => a.stale_flushes = uint(&name, &v)?,
                            "failure_backoff_threshold" => a.failure_backoff_threshold = uint(&name, &v)?,
                            _ => a.failure_backoff_pct = uint(&name, &v)?,
                        }
                    }
                    c.adaptive = a;
                }
            }
            other => {
                return Err(PyTypeError::new_err(format!(
                    "{what} got an unexpected keyword argument '{other}'; accepted: {}",
                    KEYS.join(", ")
                )))
            }
        }
    }
    Ok(c)
}
