//! Configuration of a [`Timelog`](crate::Timelog): every knob, its default and its validation.

use crate::error::{Error, Result};
use crate::Timestamp;

/// The unit of the `i64` timestamps of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeUnit {
    /// Seconds (`"s"`).
    Seconds,
    /// Milliseconds (`"ms"`), the default.
    #[default]
    Millis,
    /// Microseconds (`"us"`).
    Micros,
    /// Nanoseconds (`"ns"`).
    Nanos,
}

impl TimeUnit {
    /// The accepted names, in [`parse`](Self::parse) order.
    pub const NAMES: &'static [&'static str] = &["s", "ms", "us", "ns"];

    /// Parses `"s"`, `"ms"`, `"us"` or `"ns"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "s" => Ok(Self::Seconds),
            "ms" => Ok(Self::Millis),
            "us" => Ok(Self::Micros),
            "ns" => Ok(Self::Nanos),
            other => Err(not_one_of("time_unit", Self::NAMES, format_args!("'{other}'"))),
        }
    }

    /// The short name (`"ms"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "s",
            Self::Millis => "ms",
            Self::Micros => "us",
            Self::Nanos => "ns",
        }
    }

    /// Units per second.
    pub fn per_second(self) -> i64 {
        match self {
            Self::Seconds => 1,
            Self::Millis => 1_000,
            Self::Micros => 1_000_000,
            Self::Nanos => 1_000_000_000,
        }
    }

    /// The current wall-clock time in this unit (truncated; 0 before the
    /// Unix epoch).
    #[inline]
    pub fn now(self) -> Timestamp {
        let (secs, nanos) = wall_clock();
        match self {
            Self::Seconds => secs,
            Self::Millis => secs * 1_000 + nanos / 1_000_000,
            Self::Micros => secs * 1_000_000 + nanos / 1_000,
            Self::Nanos => secs * 1_000_000_000 + nanos,
        }
    }

    /// Default L1 window: one hour in this unit.
    pub fn default_window(self) -> i64 {
        3600 * self.per_second()
    }
}

/// Seconds and nanoseconds since the Unix epoch, `(0, 0)` before it — what
/// `SystemTime::now().duration_since(UNIX_EPOCH)` gives, read straight from
/// `clock_gettime(CLOCK_REALTIME)` on Linux: std's path around the same
/// call (a `Timespec` checked on the way in, a checked subtraction, a
/// `u128` conversion) cost 102 instructions and 26 ns per call against 19
/// and 16.6 ns (side by side on the 2-core CI machine, three runs;
/// docs/performance.md, "Session 9"), and every `append(obj)`
/// without a timestamp pays it.
#[cfg(target_os = "linux")]
#[inline]
fn wall_clock() -> (i64, i64) {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime(2) writes one `timespec` through its pointer,
    // here to a live local; CLOCK_REALTIME is a clock every Linux has.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) } == 0;
    if ok && t.tv_sec >= 0 {
        // `time_t` and `c_long` are `i64` on 64-bit Linux, `i32` on 32-bit.
        #[allow(clippy::useless_conversion)]
        (i64::from(t.tv_sec), i64::from(t.tv_nsec))
    } else if ok {
        (0, 0)
    } else {
        std_wall_clock()
    }
}

#[cfg(not(target_os = "linux"))]
#[inline]
fn wall_clock() -> (i64, i64) {
    std_wall_clock()
}

/// [`wall_clock`] through `std::time::SystemTime`.
fn std_wall_clock() -> (i64, i64) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// Whether a background worker seals, flushes and compacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaintenanceMode {
    /// A worker thread wakes every `maintenance_wakeup_ms` (or when signalled).
    #[default]
    Background,
    /// Nothing happens until `flush()`, `compact()` or `maint_step()`.
    Disabled,
}

impl MaintenanceMode {
    /// The accepted names.
    pub const NAMES: &'static [&'static str] = &["background", "disabled"];

    /// Parses `"background"` or `"disabled"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "background" => Ok(Self::Background),
            "disabled" => Ok(Self::Disabled),
            other => Err(not_one_of("maintenance", Self::NAMES, format_args!("'{other}'"))),
        }
    }

    /// The name [`parse`](Self::parse) accepts (`"background"`, `"disabled"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Background => "background",
            Self::Disabled => "disabled",
        }
    }
}

/// What a write that hits backpressure reports, once committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusyPolicy {
    /// Report [`WriteStatus::Busy`](crate::WriteStatus::Busy) (Python: raise `TimelogBusyError`).
    #[default]
    Raise,
    /// Report success; only the `busy_events` counter records it.
    Silent,
    /// Flush inline, then report success.
    Flush,
}

impl BusyPolicy {
    /// The accepted names.
    pub const NAMES: &'static [&'static str] = &["raise", "silent", "flush"];

    /// Parses `"raise"`, `"silent"` or `"flush"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "raise" => Ok(Self::Raise),
            "silent" => Ok(Self::Silent),
            "flush" => Ok(Self::Flush),
            other => Err(not_one_of("busy_policy", Self::NAMES, format_args!("'{other}'"))),
        }
    }

    /// The name [`parse`](Self::parse) accepts (`"raise"`, `"silent"`, `"flush"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raise => "raise",
            Self::Silent => "silent",
            Self::Flush => "flush",
        }
    }
}

/// Compaction selection knobs (`0` = engine default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionConfig {
    /// Target bytes of one output L1 segment before it is split (within a
    /// window); `0` = [`defaults::COMPACTION_TARGET_BYTES`] (64 MiB).
    pub target_bytes: usize,
    /// At most this many L0 segments are merged by one compaction; `0` =
    /// [`defaults::COMPACTION_MAX_INPUTS`] (64).
    pub max_inputs: usize,
    /// At most this many L1 windows are rewritten by one compaction; `0` =
    /// [`defaults::COMPACTION_MAX_WINDOWS`] (no limit).
    pub max_windows: usize,
}

/// Adaptive L1 window sizing; `target_records == 0` (the default) keeps the
/// fixed `window_size`. When enabled, after each flush (past
/// `warmup_flushes`) the window becomes `target_records / density`, where
/// density is the EWMA (smoothing `alpha`) of the record density of flushed
/// runs, clamped to `[min_window, max_window]`, snapped to a multiple of
/// `window_quantum`, and applied only when it differs from the current one
/// by at least `hysteresis_pct` percent. When no flush brings a density
/// sample for `stale_flushes` flushes, the estimate is dropped and starts
/// again. After `failure_backoff_threshold` consecutive compactions that
/// failed to publish, the window grows by `failure_backoff_pct` percent.
/// `0` means the engine default for each knob (see [`defaults`]), except
/// `target_records` (0 = off), `max_window` (0 = no bound),
/// `window_quantum` (0 = none) and `stale_flushes` (0 = never stale).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AdaptiveConfig {
    /// Records one L1 window should hold; the window becomes
    /// `target_records / density`. `0` (the default) = adaptive sizing off.
    pub target_records: u64,
    /// Smallest window, in the time unit; `0` =
    /// [`defaults::ADAPTIVE_MIN_WINDOW`] (1).
    pub min_window: i64,
    /// Largest window, in the time unit; `0` = no bound.
    pub max_window: i64,
    /// A new window is applied only when it differs from the current one
    /// by at least this many percent; `0` =
    /// [`defaults::ADAPTIVE_HYSTERESIS_PCT`] (10).
    pub hysteresis_pct: u32,
    /// Windows are snapped to a multiple of this, in the time unit; `0` =
    /// no snapping.
    pub window_quantum: i64,
    /// Smoothing of the density EWMA, in `[0, 1]` (weight of the newest
    /// sample); `0` = [`defaults::ADAPTIVE_ALPHA`] (0.2).
    pub alpha: f64,
    /// Flushes sampled before the window first moves; `0` =
    /// [`defaults::ADAPTIVE_WARMUP_FLUSHES`] (4).
    pub warmup_flushes: u32,
    /// Flushes without a density sample after which the estimate is dropped
    /// and warm-up starts again; `0` = never stale.
    pub stale_flushes: u32,
    /// Consecutive compactions that failed to publish before the window
    /// backs off; `0` = [`defaults::ADAPTIVE_FAILURE_BACKOFF_THRESHOLD`] (3).
    pub failure_backoff_threshold: u32,
    /// How many percent the window grows by on a back-off; `0` =
    /// [`defaults::ADAPTIVE_FAILURE_BACKOFF_PCT`] (50).
    pub failure_backoff_pct: u32,
}

/// Every knob of a log. `0` means "engine default" for numeric knobs, except
/// `delete_debt_threshold` (0.0 = off; default 0.1) and
/// `adaptive.target_records` (0 = off).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The unit of the timestamps (default milliseconds); it sets the
    /// default `window_size` (one hour) and what
    /// [`append_now`](crate::Timelog::append_now) writes.
    pub time_unit: TimeUnit,
    /// Whether a background worker maintains the log (default) or only
    /// explicit `flush`, `compact` and `maint_step` calls do.
    pub maintenance: MaintenanceMode,
    /// What a committed write that hits backpressure reports (default
    /// [`BusyPolicy::Raise`]).
    pub busy_policy: BusyPolicy,
    /// Retention floor: records below are deleted, writes below are refused
    /// ([`Error::BelowFloor`]); `None` (the default) = no floor.
    pub min_ts: Option<Timestamp>,
    /// The default of a binding's per-call ordering hint (the C package's
    /// `mostly_ordered`), echoed in its reports. The engine does not read
    /// it: [`Timelog::extend`](crate::Timelog::extend) checks a batch's
    /// order in one pass and sorts it stably when needed, whatever a hint
    /// says.
    pub mostly_ordered_default: bool,
    /// Seal the active memtable once it holds about this many bytes; `0` =
    /// [`defaults::MEMTABLE_MAX_BYTES`] (4 MiB).
    pub memtable_max_bytes: usize,
    /// Target bytes of one page of a segment (timestamps and payloads; a
    /// page span covers at most one page); `0` =
    /// [`defaults::TARGET_PAGE_BYTES`] (256 KiB).
    pub target_page_bytes: usize,
    /// Backpressure: number of sealed, unflushed memtables that makes
    /// writes busy; `0` = [`defaults::SEALED_MAX_RUNS`] (8).
    pub sealed_max_runs: usize,
    /// Seal early once out-of-order records in the memtable exceed this
    /// many bytes; `0` = the memtable size (`memtable_max_bytes`).
    pub ooo_budget_bytes: usize,
    /// Under background maintenance, how long (milliseconds) a busy writer
    /// first waits for the worker; `0` = [`defaults::SEALED_WAIT_MS`] (no wait).
    pub sealed_wait_ms: u64,
    /// Sealed memtables flushed by one maintenance step; `0` =
    /// [`defaults::DRAIN_BATCH_LIMIT`] (4).
    pub drain_batch_limit: usize,
    /// Worker wake-up period in milliseconds; `0` =
    /// [`defaults::MAINTENANCE_WAKEUP_MS`] (10).
    pub maintenance_wakeup_ms: u64,
    /// Scheduling niceness (0–19) of the background maintenance thread on
    /// Linux (`None` = [`defaults::MAINTENANCE_NICE`], 0; other systems
    /// ignore it). A higher value lets readers and writers get the CPU first
    /// when every core is busy, at the price of memory: maintenance then
    /// falls behind (see the default's note). If writes outpace it,
    /// backpressure (`sealed_max_runs`, `busy_policy`) makes the writers
    /// pay: with `busy_policy = Flush` the writer flushes, and once per
    /// memtable it seals does the compaction that is due, on its own thread.
    pub maintenance_nice: Option<u8>,
    /// Compact once L0 holds this many segments; `0` =
    /// [`defaults::MAX_DELTA_SEGMENTS`] (8).
    pub max_delta_segments: usize,
    /// Width of one L1 window, in the time unit; `0` = one hour
    /// ([`TimeUnit::default_window`]). With adaptive sizing on, the
    /// starting width.
    pub window_size: i64,
    /// Windows are aligned to `window_origin + k * window_size` (default 0).
    pub window_origin: i64,
    /// Seal, flush and compact when committed tombstones hide at least this
    /// fraction of the stored records, memtables included (0.0 = off;
    /// docs/protocol.md, "Delete debt"). The default,
    /// [`defaults::DELETE_DEBT_THRESHOLD`] (0.1), makes a sliding retention
    /// window give its memory back with no explicit `compact()`: stored
    /// records stay below 1 / (1 - 0.1) = 1.11 times the live ones, and a
    /// debt compaction reads only the segments a delete touches (those it
    /// hides whole are dropped unread). Deletes scattered over every segment are the costly case: up to
    /// 1 / threshold - 1 records copied per record freed (9 at 0.1).
    pub delete_debt_threshold: f64,
    /// Compaction selection knobs (default: every one the engine default).
    pub compaction: CompactionConfig,
    /// Adaptive L1 window sizing (default: off).
    pub adaptive: AdaptiveConfig,
    /// `Some`: the payload type is safe to share bitwise (see
    /// [`BitwisePayloads`]), so a flush *moves* a memtable's payloads into
    /// its segment instead of cloning them. `None` (the default): a flush
    /// clones them, as a compaction does.
    pub bitwise_payloads: Option<BitwisePayloads>,
    /// `Some`: the payloads are handles to data elsewhere ([`Handle`]), and
    /// the engine starts loading that data a few payloads ahead of the one
    /// it drops when a page of a segment goes, and of the one a compaction
    /// clones (see [`PayloadTarget`]).
    /// Must be made for the log's payload type ([`Error::InvalidConfig`]
    /// otherwise). `None` (the default): pages drop their payloads in one
    /// `drop_in_place`.
    pub payload_target: Option<PayloadTarget>,
}

/// A payload that refers to data elsewhere — an `Arc`, a `Box`, an
/// embedder's object reference — whose drop touches that data (a reference
/// count, a destructor). See [`PayloadTarget`].
pub trait Handle {
    /// The address of the data the payload refers to: only a hint, passed
    /// to a prefetch instruction (which never faults and changes nothing
    /// a program reads), never read by the engine.
    fn target(&self) -> *const u8;
}

impl<U: ?Sized> Handle for std::sync::Arc<U> {
    /// The shared value (std keeps the reference counts in the 16 bytes
    /// before it, usually on the same cache line).
    #[inline(always)]
    fn target(&self) -> *const u8 {
        std::sync::Arc::as_ptr(self).cast()
    }
}

impl<U: ?Sized> Handle for Box<U> {
    #[inline(always)]
    fn target(&self) -> *const u8 {
        (&**self as *const U).cast()
    }
}

/// Where the payloads of a log point, for a log whose payloads are
/// [`Handle`]s: made by [`PayloadTarget::of`] for the payload type and set
/// as [`Config::payload_target`].
///
/// Dropping a payload touches what it refers to, and in a long-running
/// process the objects of consecutive records were allocated at different
/// times and lie anywhere in memory: each drop is then a cache miss. With
/// the target known, a page of a segment that goes (the deleted records a
/// compaction drops, a closed or dropped log) starts loading the data of
/// the payload sixteen places ahead of the one it drops, so the misses
/// overlap, and so does a compaction's clone of each payload it keeps (the
/// Python binding sets it for its object references: deleting and
/// compacting away 500,000 of 1,000,000 records whose objects lie anywhere
/// in memory 25.0 → 17.3 ms, punching holes in every page and compacting
/// 136 → 62 ms, in-order objects unchanged; docs/performance.md, "Session
/// 42"). A page's drop is then one loop per page, the target inlined.
///
/// ```
/// use std::sync::Arc;
/// use timelog::{Config, PayloadTarget, Timelog};
///
/// let cfg = Config { payload_target: Some(PayloadTarget::of::<Arc<str>>()), ..Config::default() };
/// let log: Timelog<Arc<str>> = Timelog::with_config(cfg).unwrap();
/// # drop(log);
/// // Made for another payload type: refused.
/// let cfg = Config { payload_target: Some(PayloadTarget::of::<Box<u64>>()), ..Config::default() };
/// assert!(Timelog::<Arc<str>>::with_config(cfg).is_err());
/// ```
#[derive(Clone, Copy)]
pub struct PayloadTarget {
    type_id: std::any::TypeId,
    type_name: &'static str,
    load: unsafe fn(*const (), usize),
    drop: unsafe fn(*mut (), usize),
}

impl PayloadTarget {
    /// The target of payloads of type `T`.
    pub fn of<T: Handle + 'static>() -> Self {
        Self {
            type_id: std::any::TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            load: load_targets::<T>,
            drop: drop_ahead::<T>,
        }
    }

    /// This target for payloads of type `T`, if it was made for `T`.
    pub(crate) fn typed<T: 'static>(self) -> Option<Target<T>> {
        (self.type_id == std::any::TypeId::of::<T>()).then_some(Target {
            load: self.load,
            drop: self.drop,
            _t: std::marker::PhantomData,
        })
    }

    /// Refuses a target made for another payload type than `T`.
    pub(crate) fn check<T: 'static>(this: Option<Self>) -> Result<()> {
        match this {
            Some(t) if t.typed::<T>().is_none() => Err(Error::InvalidConfig(format!(
                "payload_target was made for {}, but the log's payloads are {}: use PayloadTarget::of::<{}>()",
                t.type_name,
                std::any::type_name::<T>(),
                std::any::type_name::<T>()
            ))),
            _ => Ok(()),
        }
    }
}

/// Starts loading the targets of the `len` values of `T` at `p`: one
/// call per stretch, with `Handle::target` inlined (its callers load a
/// stretch every few values, not one value per call: a call through a
/// pointer per value cost a compaction's merge 10% of its instructions,
/// session 42).
///
/// # Safety
///
/// `p` points to `len` live values of `T`.
unsafe fn load_targets<T: Handle>(p: *const (), len: usize) {
    // SAFETY: the caller's contract.
    let vs = unsafe { std::slice::from_raw_parts(p.cast::<T>(), len) };
    for v in vs {
        crate::segment::prefetch(v.target());
    }
}

/// Drops the `len` values of `T` at `p` in order, each after starting to
/// load the target of the one [`TARGET_AHEAD`](crate::segment::TARGET_AHEAD)
/// on: one loop per page, with `Handle::target` inlined (an indirect call
/// per payload cost an in-order page's drop 6–9%, session 42).
///
/// # Safety
///
/// `p` points to `len` initialized values of `T` that nothing uses or
/// drops afterwards. A panicking drop leaks the values after it.
unsafe fn drop_ahead<T: Handle>(p: *mut (), len: usize) {
    let vals = p.cast::<T>();
    let ahead = crate::segment::TARGET_AHEAD;
    // SAFETY: every index is below `len` (the caller's contract), and a
    // value is read (for its target) only before its own drop.
    unsafe {
        for i in 0..len.min(ahead) {
            crate::segment::prefetch((*vals.add(i)).target());
        }
        for i in 0..len {
            if i + ahead < len {
                crate::segment::prefetch((*vals.add(i + ahead)).target());
            }
            std::ptr::drop_in_place(vals.add(i));
        }
    }
}

impl std::fmt::Debug for PayloadTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PayloadTarget::of::<{}>()", self.type_name)
    }
}

/// Equal when made for the same payload type (which decides the target).
impl PartialEq for PayloadTarget {
    fn eq(&self, other: &Self) -> bool {
        self.type_id == other.type_id
    }
}

/// A [`PayloadTarget`] checked to be made for `T`.
pub(crate) struct Target<T> {
    load: unsafe fn(*const (), usize),
    drop: unsafe fn(*mut (), usize),
    _t: std::marker::PhantomData<fn(&T)>,
}

impl<T> Clone for Target<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Target<T> {}

impl<T> Target<T> {
    /// Starts loading the data the payloads `vs` refer to.
    #[inline(always)]
    pub(crate) fn load(self, vs: &[T]) {
        // SAFETY: `load` is `load_targets::<T>` (`typed` checked the type
        // it was made for), and `vs` are live `T`s.
        unsafe { (self.load)(vs.as_ptr().cast(), vs.len()) }
    }

    /// [`load`](Self::load) of the stretch of `vs` that a walk at `i`
    /// loads ahead: every [`TARGET_STRIDE`](crate::segment::TARGET_STRIDE)
    /// values, the `TARGET_STRIDE` starting
    /// [`TARGET_AHEAD`](crate::segment::TARGET_AHEAD) on (the first
    /// `TARGET_AHEAD` are the caller's to load before its walk).
    #[inline(always)]
    pub(crate) fn load_ahead(self, vs: &[T], i: usize) {
        use crate::segment::{TARGET_AHEAD, TARGET_STRIDE};
        if i % TARGET_STRIDE == 0 {
            let from = (i + TARGET_AHEAD).min(vs.len());
            self.load(&vs[from..(from + TARGET_STRIDE).min(vs.len())]);
        }
    }

    /// Drops the `len` payloads at `vals` in order, loading each one's
    /// target ahead of its drop (`drop_ahead`).
    ///
    /// # Safety
    ///
    /// `vals` points to `len` initialized payloads that nothing uses or
    /// drops afterwards.
    #[inline(always)]
    pub(crate) unsafe fn drop_all(self, vals: *mut T, len: usize) {
        // SAFETY: `drop` is `drop_ahead::<T>` (`typed` checked the type it
        // was made for); the caller's contract is its contract.
        unsafe { (self.drop)(vals.cast(), len) }
    }
}

/// A promise, made with `unsafe`, that a log's payload type `T` may be
/// shared bitwise: a flush then copies each payload's bytes into the new
/// segment (no `clone`, no reference count touched, nothing dropped twice:
/// the memtable's original is never dropped, the segment's copy is) while
/// snapshots taken before the flush go on reading the original, and
/// `&T` of both may be alive at once, on any threads.
///
/// That is sound for a `T` that nothing reachable through a `&T` can
/// change in place — plain data (`u64`, `[u8; 16]`, a struct of those), an
/// `Arc<X>` or `Box<X>` of anything (the copies share one allocation, or
/// one pointer that no `&T` moves), `String`, `Vec<u8>` — and not for one
/// with interior mutability *inline*: a `Mutex<Vec<u8>>` inside the
/// value (a reader of the old snapshot grows the original's `Vec` and
/// frees the buffer the segment's copy still points to: a read after
/// free, then a double free), an atomic or a lock a reader may be writing
/// while the flush copies its bytes (a data race), a `OnceLock<String>`,
/// an `ArcSwap`. Without the promise a flush clones every payload, which
/// is right for every `T` and costs a `clone` per record at the flush and
/// a drop per record when the memtable goes (for an `Arc`, two atomic
/// updates of a count that is rarely in cache).
///
/// ```
/// use std::sync::Arc;
/// use timelog::{BitwisePayloads, Config, Timelog};
///
/// // SAFETY: an `Arc<str>` is a pointer no `&Arc<str>` can change.
/// let cfg = Config { bitwise_payloads: Some(unsafe { BitwisePayloads::promise() }), ..Config::default() };
/// let log: Timelog<Arc<str>> = Timelog::with_config(cfg).unwrap();
/// # drop(log);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitwisePayloads(());

impl BitwisePayloads {
    /// Makes the promise.
    ///
    /// # Safety
    ///
    /// For the payload type `T` of every log whose [`Config`] carries it:
    /// a bitwise copy of a `T` may be read through `&T` alongside the
    /// original, from any thread, with the copy dropped once and the
    /// original never — no `&T` can change, in place, memory the value
    /// holds inline (see the type's docs for what qualifies).
    pub const unsafe fn promise() -> Self {
        Self(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            time_unit: TimeUnit::Millis,
            maintenance: MaintenanceMode::Background,
            busy_policy: BusyPolicy::Raise,
            min_ts: None,
            mostly_ordered_default: true,
            memtable_max_bytes: 0,
            target_page_bytes: 0,
            sealed_max_runs: 0,
            ooo_budget_bytes: 0,
            sealed_wait_ms: 0,
            drain_batch_limit: 0,
            maintenance_wakeup_ms: 0,
            maintenance_nice: None,
            max_delta_segments: 0,
            window_size: 0,
            window_origin: 0,
            delete_debt_threshold: defaults::DELETE_DEBT_THRESHOLD,
            compaction: CompactionConfig::default(),
            adaptive: AdaptiveConfig::default(),
            bitwise_payloads: None,
            payload_target: None,
        }
    }
}

/// Engine defaults applied to the `0` knobs.
pub mod defaults {
    // Under the model checkers (loom, shuttle) sizes shrink so that a
    // scenario of a few records seals, flushes and cuts pages.
    /// `memtable_max_bytes`: 4 MiB.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub const MEMTABLE_MAX_BYTES: usize = 4 << 20;
    /// `memtable_max_bytes` under the model checkers: 256 bytes.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub const MEMTABLE_MAX_BYTES: usize = 256;
    /// `target_page_bytes`: 256 KiB.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub const TARGET_PAGE_BYTES: usize = 256 << 10;
    /// `target_page_bytes` under the model checkers: 64 bytes.
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub const TARGET_PAGE_BYTES: usize = 64;
    /// Smallest page (records); 2 under the model checkers.
    #[cfg(not(any(timelog_loom, timelog_shuttle)))]
    pub(crate) const MIN_PAGE_RECORDS: usize = 16;
    #[cfg(any(timelog_loom, timelog_shuttle))]
    pub(crate) const MIN_PAGE_RECORDS: usize = 2;
    /// `sealed_max_runs`: 8 sealed memtables.
    pub const SEALED_MAX_RUNS: usize = 8;
    /// Default `delete_debt_threshold`: see [`super::Config::delete_debt_threshold`].
    pub const DELETE_DEBT_THRESHOLD: f64 = 0.1;
    /// `sealed_wait_ms`: 0 ms (a busy writer does not wait).
    pub const SEALED_WAIT_MS: u64 = 0;
    /// `drain_batch_limit`: 4 sealed memtables per step.
    pub const DRAIN_BATCH_LIMIT: usize = 4;
    /// `maintenance_wakeup_ms`: 10 ms.
    pub const MAINTENANCE_WAKEUP_MS: u64 = 10;
    /// `maintenance_nice` (`None`): niceness 0 (was 10): a niced worker is
    /// starved when every core is busy and, preempted while it holds the
    /// maintainer lock, keeps writers from helping; sealed memtables, L0 and
    /// deleted records then pile up (a 100,000-record sliding window peaked
    /// at 56-90 MiB over the empty log at load 10-13 on 2 cores, against
    /// about 13 MiB at niceness 0; docs/performance.md, "Memory").
    pub const MAINTENANCE_NICE: u8 = 0;
    /// `max_delta_segments`: 8 L0 segments.
    pub const MAX_DELTA_SEGMENTS: usize = 8;
    /// `compaction.max_inputs`: 64 L0 segments.
    pub const COMPACTION_MAX_INPUTS: usize = 64;
    /// `compaction.max_windows`: no limit.
    pub const COMPACTION_MAX_WINDOWS: usize = usize::MAX;
    /// `compaction.target_bytes`: 64 MiB.
    pub const COMPACTION_TARGET_BYTES: usize = 64 << 20;
    /// Smoothing of the flushed-run density EWMA (`adaptive.alpha = 0`).
    pub const ADAPTIVE_ALPHA: f64 = 0.2;
    /// Smallest adaptive window (`adaptive.min_window = 0`): one time unit.
    pub const ADAPTIVE_MIN_WINDOW: i64 = 1;
    /// `adaptive.hysteresis_pct`: 10 percent.
    pub const ADAPTIVE_HYSTERESIS_PCT: u32 = 10;
    /// `adaptive.warmup_flushes`: 4 flushes.
    pub const ADAPTIVE_WARMUP_FLUSHES: u32 = 4;
    /// `adaptive.failure_backoff_threshold`: 3 failed publications.
    pub const ADAPTIVE_FAILURE_BACKOFF_THRESHOLD: u32 = 3;
    /// `adaptive.failure_backoff_pct`: 50 percent.
    pub const ADAPTIVE_FAILURE_BACKOFF_PCT: u32 = 50;
}

/// A validated configuration with the defaults resolved.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub cfg: Config,
    pub memtable_max_bytes: usize,
    pub page_records: usize,
    pub sealed_max_runs: usize,
    pub ooo_budget_bytes: usize,
    pub sealed_wait_ms: u64,
    pub drain_batch_limit: usize,
    pub wakeup_ms: u64,
    pub maintenance_nice: u8,
    pub max_delta_segments: usize,
    pub window_size: i64,
    pub compaction_max_inputs: usize,
    pub compaction_max_windows: usize,
    pub compaction_target_bytes: usize,
    pub adaptive_alpha: f64,
    pub adaptive: AdaptiveResolved,
}

impl Resolved {
    /// The log's [`PayloadTarget`], for its payload type `T` (checked when
    /// the log was made: `PayloadTarget::check`).
    pub(crate) fn target<T: 'static>(&self) -> Option<Target<T>> {
        self.cfg.payload_target.and_then(PayloadTarget::typed)
    }

    /// About how many records of `T` a full memtable holds (its size
    /// heuristic's bytes a run record, `memtable::record_bytes`).
    pub fn memtable_records<T>(&self) -> usize {
        self.memtable_max_bytes / crate::memtable::record_bytes::<T>()
    }
}

/// [`AdaptiveConfig`] with the defaults applied (`enabled` = `target_records > 0`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdaptiveResolved {
    pub target_records: u64,
    pub min_window: i64,
    pub max_window: i64,
    pub hysteresis_pct: u32,
    pub window_quantum: i64,
    pub warmup_flushes: u32,
    pub stale_flushes: u32,
    pub failure_backoff_threshold: u32,
    pub failure_backoff_pct: u32,
}

/// The rule of a knob, as error messages state it: `"{knob} must be {rule}"`.
/// `knob` is the engine's name (`"window_size"`, `"adaptive.alpha"`, ...).
/// Bindings use it for values their own types cannot carry (a negative
/// count, a value beyond 64 bits), so that every message about a knob
/// states the same rule.
pub fn rule(knob: &str) -> &'static str {
    match knob {
        "maintenance_nice" => "a niceness in [0, 19] (None = engine default 0)",
        "window_size" => "in [0, 2**63 - 1] (0 = the time unit's default window, one hour)",
        "window_origin" | "min_ts" => "an int64 timestamp in [-2**63, 2**63 - 1]",
        "delete_debt_threshold" => "a finite fraction in [0.0, 1.0] (0.0 = off)",
        "adaptive.alpha" => "a finite smoothing factor in [0.0, 1.0] (0 = engine default)",
        "adaptive.hysteresis_pct" | "adaptive.failure_backoff_pct" => "a percentage in [0, 100]",
        "adaptive.target_records" => "an int >= 0 (0 = adaptive sizing off)",
        "adaptive.min_window" | "adaptive.max_window" | "adaptive.window_quantum" => {
            "in [0, 2**63 - 1] (0 = engine default)"
        }
        _ => "an int >= 0 (0 = engine default)",
    }
}

/// The knobs of the `compaction` section ([`CompactionConfig`]), by name.
pub const COMPACTION_KEYS: &[&str] = &["target_bytes", "max_inputs", "max_windows"];

/// The knobs of the `adaptive` section ([`AdaptiveConfig`]), by name.
pub const ADAPTIVE_KEYS: &[&str] = &[
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

/// A value of a knob against its rule: `"{name} must be {rule}, got {got}"`.
/// `name` is the knob as the caller spelled it (a binding's keyword),
/// `knob` the engine's name whose [`rule`] applies.
pub fn invalid_value(name: &str, knob: &str, got: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!("{name} must be {}, got {got}", rule(knob)))
}

/// A value beyond what the knob's type holds (a binding's integer wider
/// than the field): the rule, the value given, and which range it leaves
/// (`int64` for timestamp and window knobs, the knob's own otherwise). A
/// binding reports it with its language's overflow error.
pub fn too_large(name: &str, knob: &str, got: impl std::fmt::Display) -> Error {
    let int64 = matches!(
        knob,
        "window_size"
            | "window_origin"
            | "min_ts"
            | "adaptive.min_window"
            | "adaptive.max_window"
            | "adaptive.window_quantum"
    );
    let range = if int64 { "outside int64 range" } else { "too large for the knob" };
    Error::InvalidConfig(format!("{name} must be {}, got {got}, which is {range}", rule(knob)))
}

/// A name that is not one of a knob's accepted `names`:
/// `"{knob} must be one of 'a', 'b', got {got}"`.
pub fn not_one_of(knob: &str, names: &[&str], got: impl std::fmt::Display) -> Error {
    let accepted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    Error::InvalidConfig(format!("{knob} must be one of {}, got {got}", accepted.join(", ")))
}

/// A key that is not a knob of `section` (`"adaptive"` or `"compaction"`,
/// see [`ADAPTIVE_KEYS`], [`COMPACTION_KEYS`]); `key` as the caller wrote
/// it. Keeps the C package's phrase (`Unknown key 'x' in adaptive dict`).
pub fn unknown_key(section: &str, key: impl std::fmt::Display) -> Error {
    let keys = if section == "adaptive" { ADAPTIVE_KEYS } else { COMPACTION_KEYS };
    Error::InvalidConfig(format!("Unknown key {key} in {section} dict; accepted keys: {}", keys.join(", ")))
}

fn invalid(knob: &str, got: impl std::fmt::Display) -> Error {
    invalid_value(knob, knob, got)
}

fn nonneg_i64(name: &str, v: i64) -> Result<()> {
    if v < 0 {
        return Err(invalid(name, v));
    }
    Ok(())
}

/// A float knob: finite (the C package's `must be finite` phrase) and in `[0, 1]`.
fn fraction(name: &str, v: f64) -> Result<()> {
    if !v.is_finite() {
        return Err(Error::InvalidConfig(format!("{name} must be finite, got {v}; it must be {}", rule(name))));
    }
    if !(0.0..=1.0).contains(&v) {
        return Err(invalid(name, v));
    }
    Ok(())
}

impl Config {
    /// Checks every knob and resolves the defaults. `payload_bytes` is the
    /// in-memory size of one payload (for page sizing).
    pub(crate) fn resolve(&self, payload_bytes: usize) -> Result<Resolved> {
        nonneg_i64("window_size", self.window_size)?;
        fraction("delete_debt_threshold", self.delete_debt_threshold)?;
        if let Some(n) = self.maintenance_nice {
            if n > 19 {
                return Err(invalid("maintenance_nice", n));
            }
        }
        let a = &self.adaptive;
        nonneg_i64("adaptive.min_window", a.min_window)?;
        nonneg_i64("adaptive.max_window", a.max_window)?;
        nonneg_i64("adaptive.window_quantum", a.window_quantum)?;
        if a.max_window != 0 && a.min_window > a.max_window {
            return Err(Error::InvalidConfig(format!(
                "adaptive.min_window ({}) must not exceed adaptive.max_window ({})",
                a.min_window, a.max_window
            )));
        }
        fraction("adaptive.alpha", a.alpha)?;
        if a.hysteresis_pct > 100 {
            return Err(invalid("adaptive.hysteresis_pct", a.hysteresis_pct));
        }
        if a.failure_backoff_pct > 100 {
            return Err(invalid("adaptive.failure_backoff_pct", a.failure_backoff_pct));
        }
        let or = |v: usize, d: usize| if v == 0 { d } else { v };
        let record_bytes = 8 + payload_bytes.max(1);
        let target_page_bytes = or(self.target_page_bytes, defaults::TARGET_PAGE_BYTES);
        let page_records = (target_page_bytes / record_bytes).clamp(defaults::MIN_PAGE_RECORDS, 1 << 20);
        let memtable_max_bytes = or(self.memtable_max_bytes, defaults::MEMTABLE_MAX_BYTES);
        Ok(Resolved {
            cfg: self.clone(),
            memtable_max_bytes,
            page_records,
            sealed_max_runs: or(self.sealed_max_runs, defaults::SEALED_MAX_RUNS),
            ooo_budget_bytes: or(self.ooo_budget_bytes, memtable_max_bytes),
            sealed_wait_ms: if self.sealed_wait_ms == 0 { defaults::SEALED_WAIT_MS } else { self.sealed_wait_ms },
            drain_batch_limit: or(self.drain_batch_limit, defaults::DRAIN_BATCH_LIMIT),
            wakeup_ms: if self.maintenance_wakeup_ms == 0 {
                defaults::MAINTENANCE_WAKEUP_MS
            } else {
                self.maintenance_wakeup_ms
            },
            maintenance_nice: self.maintenance_nice.unwrap_or(defaults::MAINTENANCE_NICE),
            max_delta_segments: or(self.max_delta_segments, defaults::MAX_DELTA_SEGMENTS),
            window_size: if self.window_size == 0 { self.time_unit.default_window() } else { self.window_size },
            compaction_max_inputs: or(self.compaction.max_inputs, defaults::COMPACTION_MAX_INPUTS),
            compaction_max_windows: or(self.compaction.max_windows, defaults::COMPACTION_MAX_WINDOWS),
            compaction_target_bytes: or(self.compaction.target_bytes, defaults::COMPACTION_TARGET_BYTES),
            adaptive_alpha: if self.adaptive.alpha == 0.0 { defaults::ADAPTIVE_ALPHA } else { self.adaptive.alpha },
            adaptive: AdaptiveResolved {
                target_records: a.target_records,
                min_window: if a.min_window == 0 { defaults::ADAPTIVE_MIN_WINDOW } else { a.min_window },
                max_window: if a.max_window == 0 { i64::MAX } else { a.max_window },
                hysteresis_pct: if a.hysteresis_pct == 0 {
                    defaults::ADAPTIVE_HYSTERESIS_PCT
                } else {
                    a.hysteresis_pct
                },
                window_quantum: a.window_quantum,
                warmup_flushes: if a.warmup_flushes == 0 {
                    defaults::ADAPTIVE_WARMUP_FLUSHES
                } else {
                    a.warmup_flushes
                },
                stale_flushes: a.stale_flushes,
                failure_backoff_threshold: if a.failure_backoff_threshold == 0 {
                    defaults::ADAPTIVE_FAILURE_BACKOFF_THRESHOLD
                } else {
                    a.failure_backoff_threshold
                },
                failure_backoff_pct: if a.failure_backoff_pct == 0 {
                    defaults::ADAPTIVE_FAILURE_BACKOFF_PCT
                } else {
                    a.failure_backoff_pct
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock read straight from `clock_gettime` agrees with std's,
    /// read just before and after, in every unit.
    #[test]
    fn now_agrees_with_system_time() {
        for unit in [TimeUnit::Seconds, TimeUnit::Millis, TimeUnit::Micros, TimeUnit::Nanos] {
            let (s0, n0) = std_wall_clock();
            let t = unit.now();
            let (s1, n1) = std_wall_clock();
            let at = |s: i64, n: i64| s * unit.per_second() + n / (1_000_000_000 / unit.per_second());
            assert!(at(s0, n0) <= t && t <= at(s1, n1), "{unit:?}: {} <= {t} <= {}", at(s0, n0), at(s1, n1));
            assert!(t > 1_700_000_000 * unit.per_second(), "{unit:?}: {t} is not after 2023");
        }
    }

    #[test]
    fn parse_rejects_unknown_values_with_the_accepted_list() {
        let e = TimeUnit::parse("h").unwrap_err().to_string();
        assert!(e.contains("'s', 'ms', 'us', 'ns'"), "{e}");
        assert!(MaintenanceMode::parse("auto").unwrap_err().to_string().contains("'background'"));
        assert!(BusyPolicy::parse("block").unwrap_err().to_string().contains("'flush'"));
    }

    #[test]
    fn defaults_resolve_and_window_follows_unit() {
        let r = Config { time_unit: TimeUnit::Seconds, ..Config::default() }.resolve(8).unwrap();
        assert_eq!(r.window_size, 3600);
        assert_eq!(r.memtable_max_bytes, defaults::MEMTABLE_MAX_BYTES);
        assert!(r.page_records >= 16);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Config { window_size: -1, ..Config::default() }.resolve(8).is_err());
        assert!(Config { delete_debt_threshold: 1.5, ..Config::default() }.resolve(8).is_err());
        let adaptive = AdaptiveConfig { min_window: 10, max_window: 5, ..AdaptiveConfig::default() };
        assert!(Config { adaptive, ..Config::default() }.resolve(8).is_err());
        let e = Config { maintenance_nice: Some(20), ..Config::default() }.resolve(8).unwrap_err().to_string();
        assert!(e.contains("[0, 19]"), "{e}");
        assert_eq!(Config { maintenance_nice: Some(0), ..Config::default() }.resolve(8).unwrap().maintenance_nice, 0);
        assert_eq!(Config::default().resolve(8).unwrap().maintenance_nice, defaults::MAINTENANCE_NICE);
    }

    #[test]
    fn messages_state_the_rule_and_the_value_given() {
        let e = Config { delete_debt_threshold: f64::NAN, ..Config::default() }.resolve(8).unwrap_err().to_string();
        assert!(e.contains("delete_debt_threshold must be finite"), "{e}");
        let adaptive = AdaptiveConfig { alpha: f64::INFINITY, ..AdaptiveConfig::default() };
        let e = Config { adaptive, ..Config::default() }.resolve(8).unwrap_err().to_string();
        assert!(e.contains("adaptive.alpha must be finite"), "{e}");
        let e = Config { window_size: -5, ..Config::default() }.resolve(8).unwrap_err().to_string();
        assert!(e.contains("window_size must be in [0, 2**63 - 1]") && e.ends_with("got -5"), "{e}");
        let adaptive = AdaptiveConfig { hysteresis_pct: 101, ..AdaptiveConfig::default() };
        let e = Config { adaptive, ..Config::default() }.resolve(8).unwrap_err().to_string();
        assert!(e.contains("adaptive.hysteresis_pct must be a percentage in [0, 100], got 101"), "{e}");
        assert!(rule("maintenance_nice").contains("None = engine default 0"));
    }

    #[test]
    fn messages_are_shown_as_is_with_the_c_phrases() {
        // No prefix: the message a binding shows is the engine's.
        let e = TimeUnit::parse("h").unwrap_err().to_string();
        assert_eq!(e, "time_unit must be one of 's', 'ms', 'us', 'ns', got 'h'");
        let e = unknown_key("adaptive", "'bogus'").to_string();
        assert!(e.starts_with("Unknown key 'bogus' in adaptive dict; accepted keys: target_records,"), "{e}");
        let e = too_large("window_size", "window_size", "9223372036854775808").to_string();
        assert!(e.ends_with("got 9223372036854775808, which is outside int64 range"), "{e}");
        let e = too_large("sealed_max_runs", "sealed_max_runs", 1u128 << 64).to_string();
        assert!(e.contains("must be an int >= 0") && e.ends_with("which is too large for the knob"), "{e}");
        let e = invalid_value("adaptive_alpha", "adaptive.alpha", -1).to_string();
        assert!(e.starts_with("adaptive_alpha must be a finite smoothing factor"), "{e}");
    }
}
