//! One plan item at run time: what it holds, when it fires, and running its actions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use smallvec::SmallVec;

use super::plan::{Action, Event, EventKind, Member, Size, UserId};
use crate::telemetry::guard::{guarded, panic_message};

/// A batch taken out of an item, run outside the item's lock.
pub(crate) type Batch<D> = SmallVec<[Member<D>; 4]>;

/// A batch ready to be handed to the actions.
pub(crate) struct Fired<D> {
    pub event: Event,
    /// The `configured` size (the drawn N for a range; unused for `all`).
    pub configured: usize,
    pub members: Batch<D>,
}

/// Counters of one item, kept under its lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemStats {
    /// Per [`EventKind`] (coordinate, reset, timeout, stop): runs and users in them.
    pub runs: [u64; 4],
    pub users: [u64; 4],
    /// Sizes of the `coordinate` batches delivered, `(size, how many)`, sorted by size.
    pub batch_sizes: Vec<(usize, u64)>,
    /// Users taken out while held, because their node went away (see [`Item::forget`]).
    pub forgotten: u64,
}

impl ItemStats {
    fn record(&mut self, kind: EventKind, users: usize) {
        self.runs[kind.index()] += 1;
        self.users[kind.index()] += users as u64;
        if kind == EventKind::Coordinate {
            match self.batch_sizes.binary_search_by_key(&users, |e| e.0) {
                Ok(i) => self.batch_sizes[i].1 += 1,
                Err(i) => self.batch_sizes.insert(i, (users, 1)),
            }
        }
    }
}

struct State<D> {
    /// Users counted since the last batch (also when no data is kept).
    n: usize,
    /// The size of the batch being filled (0 for `all`).
    required: usize,
    /// The users, when some action needs them.
    pending: Batch<D>,
    /// Set by `stop`: the item takes no more users.
    closed: bool,
    rng: u64,
    stats: ItemStats,
    failures: u64,
}

/// A plan item with its state.
pub(crate) struct Item<D> {
    pub size: Size,
    actions: Box<[Action<D>]>,
    keeps_data: bool,
    state: Mutex<State<D>>,
}

/// What an item reports to `info`.
pub(crate) struct ItemSnapshot {
    pub required: usize,
    pub pending: usize,
    pub stats: ItemStats,
    pub failures: u64,
}

/// Outcome of offering a user to an item.
pub(crate) enum Offer<D> {
    Held,
    Fire(Fired<D>),
    Closed,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(size: Size, rng: &mut u64) -> usize {
    match size {
        Size::N(n) => n,
        Size::Range { min, max } => {
            let span = (max - min) as u64 + 1;
            min + (splitmix(rng) % span) as usize
        }
        Size::All => 0,
    }
}

impl<D> Item<D> {
    pub fn new(size: Size, actions: Vec<Action<D>>, seed: u64) -> Item<D> {
        let keeps_data = actions.iter().any(Action::needs_data);
        let mut rng = seed;
        let required = draw(size, &mut rng);
        Item {
            size,
            actions: actions.into_boxed_slice(),
            keeps_data,
            state: Mutex::new(State {
                n: 0,
                required,
                pending: SmallVec::new(),
                closed: false,
                rng,
                stats: ItemStats::default(),
                failures: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<D>> {
        // Actions run outside the lock, so a poisoned lock only means a panic in our own
        // bookkeeping; the state is still consistent enough to go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user; returns a full batch when this add completes one.
    pub fn offer(&self, user: UserId, data: impl FnOnce() -> D) -> Offer<D> {
        let mut st = self.lock();
        if st.closed {
            return Offer::Closed;
        }
        if self.keeps_data {
            st.pending.push(Member { user, data: data() });
        }
        st.n += 1;
        if self.size == Size::All || st.n < st.required {
            return Offer::Held;
        }
        let count = st.n;
        let configured = st.required;
        st.n = 0;
        let members = std::mem::take(&mut st.pending);
        let size = self.size;
        st.required = draw(size, &mut st.rng);
        st.stats.record(EventKind::Coordinate, count);
        Offer::Fire(Fired {
            event: Event::new(EventKind::Coordinate, count),
            configured,
            members,
        })
    }

    /// Takes everything held for a reset, timeout or stop (`close` for stop).
    pub fn drain(&self, kind: EventKind, close: bool) -> Fired<D> {
        let mut st = self.lock();
        let count = st.n;
        st.n = 0;
        st.closed |= close;
        st.stats.record(kind, count);
        Fired {
            event: Event::new(kind, count),
            configured: st.required,
            members: std::mem::take(&mut st.pending),
        }
    }

    /// Takes the held users that `gone` picks out of the batch being filled (their node went
    /// down: they will never act); returns their ids. Only an item that keeps its members (an
    /// action needs them) knows who it holds; another returns nothing.
    pub fn forget(&self, gone: &dyn Fn(UserId) -> bool) -> Vec<UserId> {
        let mut st = self.lock();
        let mut out = Vec::new();
        st.pending.retain(|m| {
            let go = gone(m.user);
            if go {
                out.push(m.user);
            }
            !go
        });
        st.n -= out.len();
        st.stats.forgotten += out.len() as u64;
        out
    }

    pub fn snapshot(&self) -> ItemSnapshot {
        let st = self.lock();
        ItemSnapshot {
            required: st.required,
            pending: st.n,
            stats: st.stats.clone(),
            failures: st.failures,
        }
    }

    /// Runs every action on a batch, in order, catching panics; returns how many panicked.
    pub fn run(&self, fired: &Fired<D>, coordinator: &str) -> u64 {
        let mut failed = 0;
        for (i, action) in self.actions.iter().enumerate() {
            let result = catch_unwind(AssertUnwindSafe(|| {
                guarded(|| run_action(action, fired.event, &fired.members))
            }));
            if let Err(payload) = result {
                failed += 1;
                log::warn!(
                    "coordinator {coordinator:?}: action {i} of item {} panicked on {}: {}",
                    self.size,
                    fired.event.kind,
                    panic_message(payload.as_ref())
                );
            }
        }
        if failed > 0 {
            self.lock().failures += failed;
        }
        failed
    }
}

fn run_action<D>(action: &Action<D>, event: Event, members: &[Member<D>]) {
    match action {
        Action::Event(f) => f(event),
        Action::Batch(f) => f(event, members),
        Action::Pairs(f) => match members {
            [] => f(event, None, None),
            [one] => f(event, Some(one), None),
            _ => {
                for (i, a) in members.iter().enumerate() {
                    for b in &members[i + 1..] {
                        f(event, Some(a), Some(b));
                    }
                }
            }
        },
    }
}
