//! Coordination plans: which group sizes a coordinator forms and what it does with them.
//!
//! A plan is a list of items `{size, actions}`. Sizes are a fixed `N`, an inclusive range
//! `min..=max` (a new size is drawn for every batch) or [`Size::All`] (every user added since the
//! last reset, timeout or stop; such items never fire on their own). Actions receive the
//! [`Event`] and, depending on their kind, the batch or each distinct pair of it.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::telemetry::Value;

/// The id of a virtual user (Amoc numbers users from 1).
pub type UserId = u64;

/// One user of a batch: who was added and with what data.
#[derive(Clone, Debug, PartialEq)]
pub struct Member<D> {
    pub user: UserId,
    pub data: D,
}

/// Why an item's actions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Enough users were added to fill the item's batch.
    Coordinate,
    /// `reset` was called.
    Reset,
    /// No user was added for the coordinator's timeout.
    Timeout,
    /// `stop` was called.
    Stop,
}

impl EventKind {
    /// The name used in the `event` metadata of `[amoc, coordinator, execute]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Coordinate => "coordinate",
            EventKind::Reset => "reset",
            EventKind::Timeout => "timeout",
            EventKind::Stop => "stop",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            EventKind::Coordinate => 0,
            EventKind::Reset => 1,
            EventKind::Timeout => 2,
            EventKind::Stop => 3,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action is told: Amoc's `{coordinate | reset | timeout | stop, Count}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    pub kind: EventKind,
    /// Users in the batch (may be 0 for reset, timeout and stop).
    pub count: usize,
}

impl Event {
    pub const fn new(kind: EventKind, count: usize) -> Event {
        Event { kind, count }
    }
}

/// The group size of a plan item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// Fire every `N` users (`N >= 1`).
    N(usize),
    /// Fire after a size drawn uniformly from `min..=max` for each batch, **both ends
    /// included** as Amoc's documentation promises (Amoc's code never draws `max`).
    Range { min: usize, max: usize },
    /// Never fire on adds; hold every user until reset, timeout or stop.
    All,
}

impl Size {
    /// The `configured` metadata for a batch of drawn size `drawn`.
    pub(crate) fn configured(self, drawn: usize) -> Value {
        match self {
            Size::All => Value::atom("all"),
            _ => Value::from(drawn),
        }
    }
}

impl From<usize> for Size {
    fn from(n: usize) -> Size {
        Size::N(n)
    }
}

impl From<RangeInclusive<usize>> for Size {
    fn from(r: RangeInclusive<usize>) -> Size {
        Size::Range {
            min: *r.start(),
            max: *r.end(),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::N(n) => write!(f, "{n}"),
            Size::Range { min, max } => write!(f, "{min}..={max}"),
            Size::All => f.write_str("all"),
        }
    }
}

/// `Fn(Event)`: Amoc's arity-1 action.
pub type EventFn = Arc<dyn Fn(Event) + Send + Sync>;
/// `Fn(Event, batch)`: Amoc's arity-2 action; the batch is in arrival order.
pub type BatchFn<D> = Arc<dyn Fn(Event, &[Member<D>]) + Send + Sync>;
/// `Fn(Event, a, b)`: Amoc's arity-3 action, called once per distinct unordered pair.
pub type PairFn<D> = Arc<dyn Fn(Event, Option<&Member<D>>, Option<&Member<D>>) + Send + Sync>;

/// An action of a plan item.
pub enum Action<D> {
    /// Receives only the event.
    Event(EventFn),
    /// Receives the event and the whole batch (arrival order).
    Batch(BatchFn<D>),
    /// Called once per distinct unordered pair `(a, b)` of the batch, `a` added before `b`;
    /// with one user `(Some(a), None)`, with none `(None, None)`, as Amoc does. Not allowed on
    /// [`Size::All`] items (as in Amoc).
    Pairs(PairFn<D>),
}

impl<D> Clone for Action<D> {
    fn clone(&self) -> Self {
        match self {
            Action::Event(f) => Action::Event(f.clone()),
            Action::Batch(f) => Action::Batch(f.clone()),
            Action::Pairs(f) => Action::Pairs(f.clone()),
        }
    }
}

impl<D> fmt::Debug for Action<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Event(_) => "Action::Event",
            Action::Batch(_) => "Action::Batch",
            Action::Pairs(_) => "Action::Pairs",
        })
    }
}

impl<D> Action<D> {
    /// An action that receives the event only.
    pub fn event(f: impl Fn(Event) + Send + Sync + 'static) -> Action<D> {
        Action::Event(Arc::new(f))
    }

    /// An action that receives the event and the batch.
    pub fn batch(f: impl Fn(Event, &[Member<D>]) + Send + Sync + 'static) -> Action<D> {
        Action::Batch(Arc::new(f))
    }

    /// An action called once per distinct pair of the batch.
    pub fn pairs(
        f: impl Fn(Event, Option<&Member<D>>, Option<&Member<D>>) + Send + Sync + 'static,
    ) -> Action<D> {
        Action::Pairs(Arc::new(f))
    }

    /// True when the action needs the users' data (not only the count).
    pub(crate) fn needs_data(&self) -> bool {
        !matches!(self, Action::Event(_))
    }
}

/// One action or several: what [`PlanItem::new`] accepts (Amoc normalises `Action` to
/// `[Action]`).
pub struct Actions<D>(pub Vec<Action<D>>);

impl<D> From<Action<D>> for Actions<D> {
    fn from(a: Action<D>) -> Self {
        Actions(vec![a])
    }
}

impl<D> From<Vec<Action<D>>> for Actions<D> {
    fn from(v: Vec<Action<D>>) -> Self {
        Actions(v)
    }
}

impl<D, const K: usize> From<[Action<D>; K]> for Actions<D> {
    fn from(v: [Action<D>; K]) -> Self {
        Actions(v.into())
    }
}

/// One item of a plan.
#[derive(Clone, Debug)]
pub struct PlanItem<D> {
    size: Size,
    actions: Vec<Action<D>>,
}

impl<D> PlanItem<D> {
    pub fn new(size: impl Into<Size>, actions: impl Into<Actions<D>>) -> PlanItem<D> {
        PlanItem {
            size: size.into(),
            actions: actions.into().0,
        }
    }

    pub fn size(&self) -> Size {
        self.size
    }

    pub fn actions(&self) -> &[Action<D>] {
        &self.actions
    }

    pub(crate) fn into_parts(self) -> (Size, Vec<Action<D>>) {
        (self.size, self.actions)
    }
}

/// What is wrong with a plan; `item` is the 0-based position in the plan as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the plan has no items")]
    Empty,
    #[error("item {item}: a group size must be at least 1")]
    ZeroSize { item: usize },
    #[error("item {item}: range {min}..={max} must have 1 <= min <= max")]
    BadRange { item: usize, min: usize, max: usize },
    #[error("item {item}: pair actions are not allowed on an `all` item")]
    PairsOnAll { item: usize },
    /// A batch handed back by a coordinator's owner names an item the plan does not have.
    #[error("the plan has no item {item}")]
    NoItem { item: usize },
}

/// A coordination plan: items in the order given; [`normalise`](Plan::normalise) moves `all`
/// items last, keeping the relative order of each group.
#[derive(Clone, Debug)]
pub struct Plan<D> {
    items: Vec<PlanItem<D>>,
}

impl<D> Default for Plan<D> {
    fn default() -> Self {
        Plan { items: Vec::new() }
    }
}

impl<D> Plan<D> {
    /// An empty plan; add items with [`item`](Plan::item).
    pub fn new() -> Plan<D> {
        Plan::default()
    }

    /// Adds an item: `plan.item(2, Action::pairs(..))`, `plan.item(5..=10, [a, b])`,
    /// `plan.item(Size::All, a)`.
    pub fn item(mut self, size: impl Into<Size>, actions: impl Into<Actions<D>>) -> Plan<D> {
        self.items.push(PlanItem::new(size, actions));
        self
    }

    pub fn items(&self) -> &[PlanItem<D>] {
        &self.items
    }

    pub(crate) fn into_items(self) -> Vec<PlanItem<D>> {
        self.items
    }

    /// Checks the plan and puts `all` items last (each group keeps its order).
    pub fn normalise(self) -> Result<Plan<D>, PlanError> {
        if self.items.is_empty() {
            return Err(PlanError::Empty);
        }
        for (i, it) in self.items.iter().enumerate() {
            match it.size {
                Size::N(0) => return Err(PlanError::ZeroSize { item: i }),
                Size::Range { min, max } if min == 0 || min > max => {
                    return Err(PlanError::BadRange { item: i, min, max });
                }
                Size::All if it.actions.iter().any(|a| matches!(a, Action::Pairs(_))) => {
                    return Err(PlanError::PairsOnAll { item: i });
                }
                _ => {}
            }
        }
        let (mut numbered, all): (Vec<_>, Vec<_>) =
            self.items.into_iter().partition(|it| it.size != Size::All);
        numbered.extend(all);
        Ok(Plan { items: numbered })
    }
}

impl<D> From<PlanItem<D>> for Plan<D> {
    fn from(item: PlanItem<D>) -> Self {
        Plan { items: vec![item] }
    }
}

impl<D> From<Vec<PlanItem<D>>> for Plan<D> {
    fn from(items: Vec<PlanItem<D>>) -> Self {
        Plan { items }
    }
}
