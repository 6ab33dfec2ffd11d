//! The typed actions keys are bound to (`assets/keymap.toml` names them in snake_case).

use serde::{Deserialize, Serialize};

/// Which keymap section an action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// Always available.
    Global,
    /// Only while watching a live engine (they send commands).
    Live,
    /// Only while replaying a log.
    Replay,
    /// While the log pane has the focus.
    Log,
}

impl Section {
    /// The TOML table name.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Global => "global",
            Section::Live => "live",
            Section::Replay => "replay",
            Section::Log => "log",
        }
    }

    /// All sections, in help order.
    pub const ALL: [Section; 4] = [
        Section::Global,
        Section::Live,
        Section::Replay,
        Section::Log,
    ];

    /// The title in the help overlay.
    pub const fn title(self) -> &'static str {
        match self {
            Section::Global => "Everywhere",
            Section::Live => "Live engine",
            Section::Replay => "Replay",
            Section::Log => "Log pane (focused)",
        }
    }
}

/// Something a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    Quit,
    Help,
    CycleTheme,
    FocusLog,
    FocusEvents,
    SelectNext,
    SelectPrev,
    SelectNextNode,
    SelectPrevNode,
    RateUp,
    RateDown,
    RateUpLarge,
    RateDownLarge,
    TypeRate,
    TogglePause,
    Ramp,
    CancelRamp,
    Settings,
    AddUsers,
    RemoveUsers,
    AddNode,
    KillNode,
    ReplayTogglePause,
    SeekForward,
    SeekBack,
    SpeedUp,
    SpeedDown,
    LogUp,
    LogDown,
    LogPageUp,
    LogPageDown,
    LogLevelUp,
    LogLevelDown,
    LogToggleTargets,
    LogExit,
}

impl KeyAction {
    /// Every action, in help order.
    pub const ALL: [KeyAction; 35] = [
        KeyAction::Quit,
        KeyAction::Help,
        KeyAction::CycleTheme,
        KeyAction::FocusLog,
        KeyAction::FocusEvents,
        KeyAction::SelectNext,
        KeyAction::SelectPrev,
        KeyAction::SelectNextNode,
        KeyAction::SelectPrevNode,
        KeyAction::RateUp,
        KeyAction::RateDown,
        KeyAction::RateUpLarge,
        KeyAction::RateDownLarge,
        KeyAction::TypeRate,
        KeyAction::TogglePause,
        KeyAction::Ramp,
        KeyAction::CancelRamp,
        KeyAction::Settings,
        KeyAction::AddUsers,
        KeyAction::RemoveUsers,
        KeyAction::AddNode,
        KeyAction::KillNode,
        KeyAction::ReplayTogglePause,
        KeyAction::SeekForward,
        KeyAction::SeekBack,
        KeyAction::SpeedUp,
        KeyAction::SpeedDown,
        KeyAction::LogUp,
        KeyAction::LogDown,
        KeyAction::LogPageUp,
        KeyAction::LogPageDown,
        KeyAction::LogLevelUp,
        KeyAction::LogLevelDown,
        KeyAction::LogToggleTargets,
        KeyAction::LogExit,
    ];

    /// The section the action may be bound in.
    pub const fn section(self) -> Section {
        use KeyAction::*;
        match self {
            Quit | Help | CycleTheme | FocusLog | FocusEvents | SelectNext | SelectPrev
            | SelectNextNode | SelectPrevNode => Section::Global,
            RateUp | RateDown | RateUpLarge | RateDownLarge | TypeRate | TogglePause | Ramp
            | CancelRamp | Settings | AddUsers | RemoveUsers | AddNode | KillNode => Section::Live,
            ReplayTogglePause | SeekForward | SeekBack | SpeedUp | SpeedDown => Section::Replay,
            LogUp | LogDown | LogPageUp | LogPageDown | LogLevelUp | LogLevelDown
            | LogToggleTargets | LogExit => Section::Log,
        }
    }

    /// A short label for the status-bar hints.
    pub const fn label(self) -> &'static str {
        use KeyAction::*;
        match self {
            Quit => "quit",
            Help => "help",
            CycleTheme => "theme",
            FocusLog => "logs",
            FocusEvents => "events",
            SelectNext => "next",
            SelectPrev => "prev",
            SelectNextNode => "node",
            SelectPrevNode => "node",
            RateUp => "rate+",
            RateDown => "rate-",
            RateUpLarge => "rate×2",
            RateDownLarge => "rate÷2",
            TypeRate => "set rate",
            TogglePause => "pause",
            Ramp => "ramp",
            CancelRamp => "cancel ramp",
            Settings => "settings",
            AddUsers => "+users",
            RemoveUsers => "-users",
            AddNode => "+node",
            KillNode => "kill node",
            ReplayTogglePause => "pause",
            SeekForward => "seek+",
            SeekBack => "seek-",
            SpeedUp => "faster",
            SpeedDown => "slower",
            LogUp | LogDown => "scroll",
            LogPageUp | LogPageDown => "page",
            LogLevelUp | LogLevelDown => "level",
            LogToggleTargets => "sources",
            LogExit => "back",
        }
    }

    /// What the action does, for the help overlay.
    pub const fn description(self) -> &'static str {
        use KeyAction::*;
        match self {
            Quit => "quit (the terminal is restored)",
            Help => "show or hide this help",
            CycleTheme => "next colour theme",
            FocusLog => "focus the log pane (scroll it)",
            FocusEvents => "focus the events pane (scroll it)",
            SelectNext => "select the next throttle",
            SelectPrev => "select the previous throttle",
            SelectNextNode => "select the next node",
            SelectPrevNode => "select the previous node",
            RateUp => "raise the selected throttle's rate 10%",
            RateDown => "lower the selected throttle's rate 10%",
            RateUpLarge => "double the selected throttle's rate",
            RateDownLarge => "halve the selected throttle's rate",
            TypeRate => "type an exact rate for it",
            TogglePause => "pause or resume the selected throttle",
            Ramp => "ramp it: TARGET SECONDS (replaces a ramp)",
            CancelRamp => "cancel its ramp (keeps the rate reached)",
            Settings => "settings: see them, Enter edits one",
            AddUsers => "add users",
            RemoveUsers => "remove users",
            AddNode => "add a node",
            KillNode => "kill the selected node (asks first)",
            ReplayTogglePause => "pause or resume the replay",
            SeekForward => "seek forward 10 s",
            SeekBack => "seek back 10 s",
            SpeedUp => "replay twice as fast",
            SpeedDown => "replay half as fast",
            LogUp => "scroll up",
            LogDown => "scroll down",
            LogPageUp => "page up",
            LogPageDown => "page down",
            LogLevelUp => "show more (info and up)",
            LogLevelDown => "show less (warnings, then errors only)",
            LogToggleTargets => "show or hide the source column",
            LogExit => "leave the pane",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_action_once() {
        let mut seen = std::collections::BTreeSet::new();
        for a in KeyAction::ALL {
            assert!(seen.insert(a), "{a:?} listed twice");
        }
        assert_eq!(seen.len(), KeyAction::ALL.len());
    }

    #[test]
    fn snake_case_names() {
        let a: KeyAction = serde_json::from_str("\"rate_up_large\"").expect("parse");
        assert_eq!(a, KeyAction::RateUpLarge);
        assert!(serde_json::from_str::<KeyAction>("\"RateUp\"").is_err());
    }
}
