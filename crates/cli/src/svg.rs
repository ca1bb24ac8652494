//! The hand-written SVG pieces the charts share (`bench --svg`,
//! `compare --svg`): escaping, the document's opening and closing, and a
//! 1-2-5 tick step for linear axes.

use std::fmt::Write as _;

/// Escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The XML declaration, the `<svg>` element (sans-serif, 12 px) and its
/// `<title>`; close with [`end`].
pub fn begin(s: &mut String, width: f64, height: f64, title: &str) {
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<title>{}</title>"#, esc(title));
}

pub fn end(s: &mut String) {
    s.push_str("</svg>\n");
}

/// A 1, 2 or 5 × 10^n step that cuts `0..=max` into at most about
/// `ticks` intervals (1 when `max` is 0).
pub fn nice_step(max: f64, ticks: u32) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / f64::from(ticks.max(1));
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(3_000.0, 6), 500.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(esc("a<b&\"c\">"), "a&lt;b&amp;&quot;c&quot;&gt;");
    }
}
