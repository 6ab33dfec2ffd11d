//! State → widget inputs for the users, nodes, events and coordinators panes.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::{
    CoordinatorRow, CoordinatorTable, EventRow, EventTable, NodeRow, NodeTable, Styles, UserCounts,
    UsersPane,
};

use crate::monitor::{EXEC_KINDS, MonitorState};
use crate::tui::app::App;

/// Draws the pane into `area`.
pub fn users(area: Rect, buf: &mut Buffer, _app: &App, state: &MonitorState, styles: &Styles) {
    let u = state.users();
    let per_node: Vec<(&str, u64)> = state
        .nodes()
        .iter()
        .map(|n| (n.name.as_str(), n.running().max(0) as u64))
        .collect();
    let history = u
        .running_series
        .window(crate::tui::rates::now_sec(state), area.width as usize);
    UsersPane {
        counts: UserCounts {
            running: u.running().max(0) as u64,
            added: u.added,
            removed: u.removed,
            failed: u.exceptions,
        },
        per_node: &per_node,
        history: &history,
        focused: false,
        styles,
    }
    .render(area, buf);
}

/// Draws the pane into `area`.
pub fn nodes(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    let master = state.master().map(|m| m.name.as_str());
    let rows: Vec<NodeRow> = state
        .nodes()
        .iter()
        .map(|n| NodeRow {
            name: &n.name,
            master: master == Some(n.name.as_str()),
            up: n.up,
            users: n.running().max(0) as u64,
        })
        .collect();
    NodeTable {
        rows: &rows,
        selected: if app.is_live() {
            app.selected_node(state)
        } else {
            None
        },
        focused: false,
        styles,
    }
    .render(area, buf);
}

/// Draws the pane into `area`.
pub fn events(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    let counts = state.counts();
    let mut rows: Vec<EventRow> = counts
        .iter()
        .map(|(name, n)| EventRow {
            name: name.dotted(),
            count: *n,
            per_s: app.rates.rate(state, name, *n),
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(b.name)));
    EventTable {
        rows: &rows,
        offset: app.events_scroll,
        focused: app.events_focused,
        styles,
    }
    .render(area, buf);
}

/// Draws the pane into `area`.
pub fn coordinators(
    area: Rect,
    buf: &mut Buffer,
    _app: &App,
    state: &MonitorState,
    styles: &Styles,
) {
    let rows: Vec<CoordinatorRow> = state
        .coordinators()
        .iter()
        .map(|c| {
            let by = &c.executes.known;
            let idx = |k: &str| EXEC_KINDS.iter().position(|x| *x == k).unwrap_or(0);
            let batches: u64 = c.executes.iter().map(|(_, s)| s.events).sum();
            let users: u64 = c.executes.iter().map(|(_, s)| s.users).sum();
            CoordinatorRow {
                name: &c.name,
                adds: c.add,
                coordinate: by[idx("coordinate")].events,
                timeout: by[idx("timeout")].events,
                reset: by[idx("reset")].events,
                stop: by[idx("stop")].events,
                avg_batch: if batches == 0 {
                    0.0
                } else {
                    users as f64 / batches as f64
                },
                timeouts: c.timeout,
                stopped: !c.running() && c.stop > 0,
            }
        })
        .collect();
    CoordinatorTable {
        rows: &rows,
        focused: false,
        styles,
    }
    .render(area, buf);
}
