//! Compact number formatting for narrow table cells.

/// An integer with a k/M/G suffix once it no longer fits in five characters: `999`, `12.3k`,
/// `4.5M`.
pub fn count(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=999_999 => format!("{}k", n / 1_000),
        1_000_000..=99_999_999 => format!("{:.1}M", n as f64 / 1e6),
        100_000_000..=999_999_999 => format!("{}M", n / 1_000_000),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A per-second figure: one decimal below 100, whole numbers above, suffixed like [`count`].
pub fn per_sec(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        return "-".to_owned();
    }
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        count(x.round() as u64)
    }
}

/// Seconds as `h:mm:ss` (or `m:ss` under an hour).
pub fn elapsed(secs: f64) -> String {
    let total = if secs.is_finite() && secs > 0.0 {
        secs.floor() as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// An interval in milliseconds as `60s`, `1s`, `250ms`, `2m`.
pub fn interval_ms(ms: u64) -> String {
    if ms == 0 {
        "0".to_owned()
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// `text` cut to `width` characters, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}

/// `text` cut to `width` characters from the left, starting with `…` when cut: for dotted
/// names whose end tells them apart (`…message.start`, `…message.stop`).
pub fn truncate_start(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut s = String::from('…');
    s.extend(text.chars().skip(n - (width - 1)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_from_the_left() {
        assert_eq!(truncate_start("demo.message.start", 14), "…message.start");
        assert_eq!(truncate_start("demo.message.stop", 14), "….message.stop");
        assert_eq!(truncate_start("short", 14), "short");
        assert_eq!(truncate_start("abc", 0), "");
    }

    #[test]
    fn counts_get_suffixes() {
        assert_eq!(count(999), "999");
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(123_456), "123k");
        assert_eq!(count(4_500_000), "4.5M");
        assert_eq!(count(250_000_000), "250M");
        assert_eq!(count(3_100_000_000), "3.1G");
    }

    #[test]
    fn rates_and_times() {
        assert_eq!(per_sec(2.345), "2.3");
        assert_eq!(per_sec(1234.4), "1234");
        assert_eq!(per_sec(f64::NAN), "-");
        assert_eq!(elapsed(59.9), "0:59");
        assert_eq!(elapsed(3725.0), "1:02:05");
        assert_eq!(interval_ms(60_000), "1m");
        assert_eq!(interval_ms(1_000), "1s");
        assert_eq!(interval_ms(250), "250ms");
        assert_eq!(truncate("messages", 5), "mess…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
