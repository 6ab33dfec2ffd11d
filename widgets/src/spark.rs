//! A one-line sparkline as text, for table cells (ratatui's `Sparkline` needs its own area).

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values of `data` as bar characters scaled to their maximum. A zero is a
/// blank, so an idle series reads as empty; shorter data is right-aligned (newest on the right).
pub fn text(data: &[u64], width: usize) -> String {
    let tail = &data[data.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    let mut s = String::with_capacity(width * 3);
    for _ in tail.len()..width {
        s.push(' ');
    }
    for &v in tail {
        if v == 0 || max == 0 {
            s.push(' ');
        } else {
            // 1..=max maps onto the 8 bars; any non-zero value shows at least the lowest bar.
            let idx = ((v as u128 * 8).div_ceil(max as u128) as usize).clamp(1, 8) - 1;
            s.push(BARS[idx]);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn scales_to_max_and_pads_left() {
        assert_eq!(text(&[0, 1, 4, 8], 6), "   ▁▄█");
        assert_eq!(text(&[8, 8, 8], 2), "██");
        assert_eq!(text(&[], 3), "   ");
        assert_eq!(text(&[0, 0], 2), "  ");
    }
}
