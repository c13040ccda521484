//! The Arrow PyCapsule interface: `PageSpan` timestamps as an Arrow
//! `timestamp[<unit>]` array (`__arrow_c_array__`), and streams of record
//! batches (`__arrow_c_stream__`) of page views, of the log and of a
//! range (`Timelog.arrow()`).
//!
//! The C structures and their release callbacks are arrow-rs's own
//! (`arrow-array`'s `ffi` and `ffi_stream`); this module only decides what
//! goes in them.
//!
//! **Zero copy.** The timestamp buffer of an exported page span is the
//! page's own memory: an arrow `Buffer` over it whose owner is a [`Pin`],
//! an `Arc` of the span (and through it of its snapshot, which keeps the
//! page alive, R9). The consumer's `release` drops the `Pin`, from whatever
//! thread it runs on and attached or not: dropping a span touches only
//! atomics, and payload references it may be the last to hold are released
//! at once when attached and queued otherwise (`convert::deferred`). No
//! Python object is held by an exported array or stream.
//!
//! **Payload column.** Record batches have a `ts` column and, when the
//! payloads allow it, a `value` column. Whether they do is decided over
//! every payload of the export before anything is exported (the schema is
//! fixed up front): all `None` → `null`; `bool` → `bool`; `int` within
//! int64 → `int64`; `int`/`float` mixed → `float64`; `str` → `string`;
//! `bytes` → `binary`; `None` mixes with each as a null. Anything else (a
//! dict, a big int, `str` mixed with `int`, ...) makes the column
//! unconvertible: `payloads="auto"` (the default) then omits it,
//! `"require"` raises `TypeError` naming the first offending record, and
//! `"omit"` never reads payloads at all. Payload columns are copies built
//! while attached, when the stream is exported: the consumer's
//! `get_next` then never needs the interpreter.

use std::ffi::CString;
use std::panic::RefUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::ffi::FFI_ArrowArray;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::{
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, NullArray, PrimitiveArray, RecordBatch, RecordBatchIterator};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyCapsule, PyFloat, PyInt, PyString, PyTuple};
use pyo3::Borrowed;
use pyo3::{PyTraverseError, PyVisit};

use timelog::{Order, PageSpan, Snapshot, TimeUnit};

use crate::convert::PyObj;

type Span = Arc<PageSpan<PyObj>>;

/// Rows per record batch of a merged (copied) export.
pub(crate) const DEFAULT_BATCH_ROWS: usize = 65536;

/// Keeps a page span — and so its snapshot and page — alive for as long as
/// an Arrow buffer points at its timestamps.
struct Pin(#[allow(dead_code, reason = "held for its Drop")] Span);

// A `Pin` is only ever dropped (arrow-rs never reads through the owner of
// a custom allocation, and never observes it across a panic), so it
// cannot be seen in a broken state after an unwind.
impl RefUnwindSafe for Pin {}

fn arrow_unit(u: TimeUnit) -> arrow_schema::TimeUnit {
    match u {
        TimeUnit::Seconds => arrow_schema::TimeUnit::Second,
        TimeUnit::Millis => arrow_schema::TimeUnit::Millisecond,
        TimeUnit::Micros => arrow_schema::TimeUnit::Microsecond,
        TimeUnit::Nanos => arrow_schema::TimeUnit::Nanosecond,
    }
}

/// The Arrow type of a log's timestamps (no time zone: the log does not
/// know which epoch its integers count from).
pub(crate) fn ts_type(u: TimeUnit) -> DataType {
    DataType::Timestamp(arrow_unit(u), None)
}

fn ts_array(values: ScalarBuffer<i64>, u: TimeUnit) -> ArrayRef {
    match u {
        TimeUnit::Seconds => Arc::new(PrimitiveArray::<TimestampSecondType>::new(values, None)),
        TimeUnit::Micros => Arc::new(PrimitiveArray::<TimestampMicrosecondType>::new(values, None)),
        TimeUnit::Nanos => Arc::new(PrimitiveArray::<TimestampNanosecondType>::new(values, None)),
        TimeUnit::Millis => Arc::new(PrimitiveArray::<TimestampMillisecondType>::new(values, None)),
    }
}

/// The span's timestamps as an Arrow buffer over the page's memory.
fn span_values(span: &Span) -> ScalarBuffer<i64> {
    let ts = span.timestamps();
    let ptr = NonNull::new(ts.as_ptr() as *mut u8).expect("a slice pointer is never null");
    // SAFETY: arrow-buffer's `Buffer::from_custom_allocation` contract:
    // `ptr` must address `len` initialized bytes that stay valid and
    // unmodified as long as `owner` lives. `ptr` addresses the span's
    // `ts.len() * 8` bytes of a published page, never written again (R8)
    // and aligned for i64; the owner `Pin` holds the span and its snapshot,
    // which keeps the page alive (R9) until the last clone of the buffer —
    // and so the last reader of `ptr` — is dropped.
    let buf = unsafe { Buffer::from_custom_allocation(ptr, ts.len() * 8, Arc::new(Pin(span.clone()))) };
    ScalarBuffer::new(buf, 0, ts.len())
}

fn arrow_err(e: arrow_schema::ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow export failed: {e}"))
}

fn capsule<'py, T: 'static + Send>(py: Python<'py>, v: T, name: &std::ffi::CStr) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new(py, v, Some(CString::from(name)))
}

/// The type a consumer asked for in `requested_schema`, if it is one.
fn requested_type(requested: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DataType>> {
    let Some(obj) = requested.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let cap = obj.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err("requested_schema must be an 'arrow_schema' PyCapsule (from __arrow_c_schema__) or None")
    })?;
    let p = cap.pointer_checked(Some(c"arrow_schema"))?;
    // SAFETY: `NonNull::as_ref` needs a valid, aligned, live `ArrowSchema`
    // not mutated during the borrow. The Arrow PyCapsule interface contract
    // says a capsule named "arrow_schema" (checked by `pointer_checked`,
    // i.e. `PyCapsule_GetPointer` with that name) holds a pointer to a
    // valid `struct ArrowSchema` owned by the capsule; the capsule is kept
    // alive by `obj` for the borrow, and no Python code runs meanwhile.
    let schema = unsafe { p.cast::<FFI_ArrowSchema>().as_ref() };
    Ok(DataType::try_from(schema).ok())
}

/// `PageSpan.__arrow_c_array__`: the timestamps, zero-copy. A request for
/// `int64` is honoured (same buffer); any other request is left to the
/// consumer to cast, as the interface allows.
pub(crate) fn span_array<'py>(
    py: Python<'py>,
    span: Span,
    requested: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let unit = span.snapshot().time_unit();
    let values = span_values(&span);
    let arr: ArrayRef = match requested_type(requested)? {
        Some(DataType::Int64) => Arc::new(PrimitiveArray::<Int64Type>::new(values, None)),
        _ => ts_array(values, unit),
    };
    let (a, s) = arrow_array::ffi::to_ffi(&arr.to_data()).map_err(arrow_err)?;
    PyTuple::new(
        py,
        [capsule(py, s, c"arrow_schema")?.into_any(), capsule::<FFI_ArrowArray>(py, a, c"arrow_array")?.into_any()],
    )
}

/// `PageSpan.__arrow_c_schema__`.
pub(crate) fn span_schema<'py>(py: Python<'py>, span: &Span) -> PyResult<Bound<'py, PyCapsule>> {
    let s = FFI_ArrowSchema::try_from(&ts_type(span.snapshot().time_unit())).map_err(arrow_err)?;
    capsule(py, s, c"arrow_schema")
}

/// Which payload column a stream carries (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payloads {
    Auto,
    Omit,
    Require,
}

impl Payloads {
    pub(crate) fn parse(s: &str) -> PyResult<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "omit" => Ok(Self::Omit),
            "require" => Ok(Self::Require),
            _ => Err(PyValueError::new_err(format!(
                "payloads must be 'auto' (a value column when every payload converts), 'omit' or 'require', got {s:?}"
            ))),
        }
    }
}

/// The Arrow type of a payload column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Bytes,
}

impl Kind {
    fn of(o: &Borrowed<'_, '_, PyAny>) -> Option<Kind> {
        if o.is_none() {
            Some(Kind::Null)
        } else if o.is_instance_of::<PyBool>() {
            Some(Kind::Bool)
        } else if o.is_instance_of::<PyInt>() {
            o.extract::<i64>().ok().map(|_| Kind::Int)
        } else if o.is_instance_of::<PyFloat>() {
            Some(Kind::Float)
        } else if o.is_instance_of::<PyString>() {
            Some(Kind::Str)
        } else if o.is_instance_of::<PyBytes>() {
            Some(Kind::Bytes)
        } else {
            None
        }
    }

    fn join(self, other: Kind) -> Option<Kind> {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => Some(a),
            (Null, b) => Some(b),
            (a, Null) => Some(a),
            (Int, Float) | (Float, Int) => Some(Float),
            _ => None,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Null => DataType::Null,
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Str => DataType::Utf8,
            Kind::Bytes => DataType::Binary,
        }
    }
}

/// Builds one payload column.
enum Col {
    Null(usize),
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bytes(BinaryBuilder),
}

impl Col {
    fn new(k: Kind) -> Self {
        match k {
            Kind::Null => Col::Null(0),
            Kind::Bool => Col::Bool(BooleanBuilder::new()),
            Kind::Int => Col::Int(Int64Builder::new()),
            Kind::Float => Col::Float(Float64Builder::new()),
            Kind::Str => Col::Str(StringBuilder::new()),
            Kind::Bytes => Col::Bytes(BinaryBuilder::new()),
        }
    }

    fn push(&mut self, o: Borrowed<'_, '_, PyAny>) -> PyResult<()> {
        if o.is_none() {
            match self {
                Col::Null(n) => *n += 1,
                Col::Bool(b) => b.append_null(),
                Col::Int(b) => b.append_null(),
                Col::Float(b) => b.append_null(),
                Col::Str(b) => b.append_null(),
                Col::Bytes(b) => b.append_null(),
            }
            return Ok(());
        }
        match self {
            Col::Null(_) => unreachable!("a null column holds only None"),
            Col::Bool(b) => b.append_value(o.extract::<bool>()?),
            Col::Int(b) => b.append_value(o.extract::<i64>()?),
            Col::Float(b) => b.append_value(o.extract::<f64>()?),
            Col::Str(b) => b.append_value(o.cast::<PyString>()?.to_str()?),
            Col::Bytes(b) => b.append_value(o.cast::<PyBytes>()?.as_bytes()),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::Int(b) => Arc::new(b.finish()),
            Col::Float(b) => Arc::new(b.finish()),
            Col::Str(b) => Arc::new(b.finish()),
            Col::Bytes(b) => Arc::new(b.finish()),
        }
    }
}

/// What a stream exports.
#[derive(Clone)]
pub(crate) enum Source {
    /// Physical page spans (`views()`): one batch per span, zero-copy.
    Spans(Vec<Span>),
    /// The visible records of `lo ..= hi` of a snapshot: zero-copy page
    /// spans when the read is exactly those, else merged and copied.
    Range { snap: Snapshot<PyObj>, lo: i64, hi: i64 },
}

enum Plan {
    Spans(Vec<Span>),
    Merge { snap: Snapshot<PyObj>, lo: i64, hi: i64 },
}

impl Source {
    /// The log's time unit; unknown only for an empty list of spans (whose
    /// `ts` column is then typed `int64`).
    fn unit(&self) -> Option<TimeUnit> {
        match self {
            Source::Spans(v) => v.first().map(|s| s.snapshot().time_unit()),
            Source::Range { snap, .. } => Some(snap.time_unit()),
        }
    }

    fn plan(&self) -> Plan {
        match self {
            Source::Spans(v) => Plan::Spans(v.clone()),
            Source::Range { snap, lo, hi } => match snap.visible_page_spans(*lo, *hi) {
                Some(spans) => Plan::Spans(spans.into_iter().map(Arc::new).collect()),
                None => Plan::Merge { snap: snap.clone(), lo: *lo, hi: *hi },
            },
        }
    }
}

impl Plan {
    /// Calls `f(ts, payload)` for every record, in order, until it fails.
    fn for_each<'py>(
        &self,
        py: Python<'py>,
        mut f: impl FnMut(Borrowed<'_, 'py, PyAny>) -> PyResult<()>,
    ) -> PyResult<()> {
        match self {
            Plan::Spans(v) => {
                for s in v {
                    for p in crate::iter::loading_ahead(s.payloads()) {
                        f(p.bind(py))?;
                    }
                }
                Ok(())
            }
            Plan::Merge { snap, lo, hi } => {
                let mut c = snap.cursor(*lo, *hi, Order::Asc);
                let mut res = Ok(());
                while res.is_ok() && !c.is_exhausted() {
                    crate::iter::next_batch_ahead(&mut c, 4096, |_, p| {
                        if res.is_ok() {
                            res = f(p.bind(py));
                        }
                    });
                }
                res
            }
        }
    }
}

/// The payload column's kind under `policy`, `None` if there is none.
fn decide(py: Python<'_>, plan: &Plan, policy: Payloads) -> PyResult<Option<Kind>> {
    if policy == Payloads::Omit {
        return Ok(None);
    }
    let mut kind = Kind::Null;
    let mut row = 0usize;
    let r = plan.for_each(py, |o| {
        match Kind::of(&o).and_then(|k| kind.join(k)) {
            Some(k) => kind = k,
            None => {
                let t = o.get_type();
                return Err(PyTypeError::new_err(format!(
                    "payload of record {row} ({} {}) does not convert to an Arrow column together with the earlier {} payloads; \
                     an Arrow value column needs payloads that are all int (int64 range), all int/float, all str, all bytes or all bool (None allowed); \
                     export the timestamps only with payloads='omit'",
                    t.name()?,
                    o.repr()?,
                    kind.data_type()
                )));
            }
        }
        row += 1;
        Ok(())
    });
    match r {
        Ok(()) => Ok(Some(kind)),
        Err(e) if policy == Payloads::Require => Err(e),
        Err(_) => Ok(None),
    }
}

fn schema_of(unit: Option<TimeUnit>, kind: Option<Kind>) -> SchemaRef {
    let ts = unit.map_or(DataType::Int64, ts_type);
    let mut fields = vec![Field::new("ts", ts, false)];
    if let Some(k) = kind {
        fields.push(Field::new("value", k.data_type(), true));
    }
    Arc::new(Schema::new(fields))
}

/// Every batch of the export (payload columns built now, attached).
fn batches(
    py: Python<'_>,
    plan: &Plan,
    unit: Option<TimeUnit>,
    kind: Option<Kind>,
    rows: usize,
) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let schema = schema_of(unit, kind);
    let mut out = Vec::new();
    let mut col = kind.map(Col::new);
    let mut emit = |ts: ArrayRef, col: &mut Option<Col>| -> PyResult<()> {
        let mut cols = vec![ts];
        if let Some(c) = col {
            cols.push(c.finish());
        }
        out.push(RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err)?);
        Ok(())
    };
    match plan {
        Plan::Spans(v) => {
            for s in v {
                if let Some(c) = col.as_mut() {
                    for p in crate::iter::loading_ahead(s.payloads()) {
                        c.push(p.bind(py))?;
                    }
                }
                let u = unit.unwrap_or_else(|| s.snapshot().time_unit());
                emit(ts_array(span_values(s), u), &mut col)?;
            }
        }
        Plan::Merge { snap, lo, hi } => {
            let mut cur = snap.cursor(*lo, *hi, Order::Asc);
            while !cur.is_exhausted() {
                let mut ts = Vec::with_capacity(cur.remaining_upto(rows));
                let mut res = Ok(());
                crate::iter::next_batch_ahead(&mut cur, rows, |t, p| {
                    ts.push(t);
                    if let (Some(c), Ok(())) = (col.as_mut(), &res) {
                        res = c.push(p.bind(py));
                    }
                });
                res?;
                let u = unit.unwrap_or_else(|| snap.time_unit());
                emit(ts_array(ScalarBuffer::from(ts), u), &mut col)?;
            }
        }
    }
    Ok((schema, out))
}

/// A record-batch stream capsule of `source`.
pub(crate) fn stream_capsule<'py>(
    py: Python<'py>,
    source: &Source,
    policy: Payloads,
    rows: usize,
) -> PyResult<Bound<'py, PyCapsule>> {
    let unit = source.unit();
    let plan = source.plan();
    let kind = decide(py, &plan, policy)?;
    let (schema, batches) = batches(py, &plan, unit, kind, rows)?;
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    capsule(py, FFI_ArrowArrayStream::new(Box::new(reader)), c"arrow_array_stream")
}

/// A stream of record batches of a log, a range or page views, exported
/// with the Arrow PyCapsule interface (`__arrow_c_stream__`). Every export
/// reads the same snapshot, taken when this object was made.
#[pyclass(frozen, name = "ArrowStream", module = "timelog._timelog")]
pub struct PyArrowStream {
    source: Source,
    payloads: Payloads,
    rows: usize,
    /// The log's collector link (`crate::gc`): exports read the payloads.
    link: Option<PyObj>,
}

impl PyArrowStream {
    pub(crate) fn new(source: Source, payloads: Payloads, rows: isize, link: Option<PyObj>) -> PyResult<Self> {
        let rows = usize::try_from(rows)
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| PyValueError::new_err(format!("batch_rows must be > 0, got {rows}")))?;
        Ok(Self { source, payloads, rows, link })
    }
}

impl PyArrowStream {
    pub(crate) fn export<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // Validated (a bad argument is an error), not applied: consumers
        // cast what they need, as the interface allows.
        requested_type(requested_schema)?;
        stream_capsule(py, &self.source, self.payloads, self.rows)
    }
}

#[pymethods]
impl PyArrowStream {
    /// An `arrow_array_stream` capsule of record batches (`ts`, and `value`
    /// when the payloads convert). `requested_schema` is accepted as the
    /// interface requires and not applied: consumers cast what they need.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        self.export(py, requested_schema.as_ref())
    }

    /// The schema of the stream (`arrow_schema` capsule); deciding the
    /// payload column reads every payload.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let kind = decide(py, &self.source.plan(), self.payloads)?;
        let s = FFI_ArrowSchema::try_from(schema_of(self.source.unit(), kind).as_ref()).map_err(arrow_err)?;
        capsule(py, s, c"arrow_schema")
    }

    /// Reports the log's collector link (`crate::gc`). The payloads only
    /// this stream's snapshot holds are not reported: a cycle through them
    /// is kept (never cleared) until the stream goes.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match &self.link {
            Some(l) => visit.call(l.as_py()),
            None => Ok(()),
        }
    }

    fn __repr__(&self) -> String {
        let what = match &self.source {
            Source::Spans(v) => format!("{} page span(s)", v.len()),
            Source::Range { lo, hi, .. } => format!("records [{lo}..={hi}]"),
        };
        let unit = self.source.unit().map_or("?", |u| u.as_str());
        format!("<ArrowStream {what} time_unit='{unit}' payloads={:?}>", self.payloads)
    }
}
