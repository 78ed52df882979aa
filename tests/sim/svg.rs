//! The swimlane picture of a violation: which keys each edge trusts, what each signer signs
//! with, and the rotation events, over the two days before it.

use std::fmt::Write as _;

use crate::world::{Lane, World};

const W: f64 = 1600.0;
const LANE_H: f64 = 26.0;
const LEFT: f64 = 110.0;

/// From, to, label.
type Bar = (i64, i64, String);

fn colour(key: &str) -> String {
    let h = key
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("hsl({},65%,60%)", h % 360)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG document.
pub(crate) fn swimlane(w: &World, at: i64) -> String {
    let from = at - 2 * 86_400;
    let to = at + 600;
    let x =
        |t: i64| LEFT + (t.clamp(from, to) - from) as f64 / (to - from) as f64 * (W - LEFT - 10.0);
    let mut rows: Vec<(String, Vec<Bar>)> = Vec::new();
    for (e, lane) in w.edge_lanes.iter().enumerate() {
        for slot in 0..3 {
            let mut bars = Vec::new();
            for (i, (t, items)) in lane.iter().enumerate() {
                let end = lane.get(i + 1).map_or(to, |(t, _)| *t);
                if let Some(k) = items.get(slot) {
                    bars.push((*t, end, k.clone()));
                }
            }
            if !bars.is_empty() {
                rows.push((format!("edge-{e} [{slot}]"), bars));
            }
        }
    }
    for (i, lane) in w.signing.iter().enumerate() {
        let mut bars = Vec::new();
        for (j, (t, k)) in lane.iter().enumerate() {
            let end = lane.get(j + 1).map_or(to, |(t, _)| *t);
            bars.push((*t, end, k.clone().unwrap_or_else(|| "503".into())));
        }
        rows.push((format!("signer-{i} signs"), bars));
    }
    let event_lanes = [
        Lane::SecretsManager,
        Lane::Operator,
        Lane::Rotator,
        Lane::CloudFront,
        Lane::Check,
    ];
    let height = (rows.len() + event_lanes.len() + 2) as f64 * LANE_H + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="monospace" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="4" y="14">seed {} — bars: keys per edge and what each signer signs with; ticks: events (hover for text); red: the violation</text>"#,
        w.p.seed
    );
    let mut y = 30.0;
    for (name, bars) in &rows {
        let _ = write!(s, r#"<text x="4" y="{}">{}</text>"#, y + 15.0, esc(name));
        for (a, b, k) in bars {
            if *b < from {
                continue;
            }
            let (xa, xb) = (x(*a), x(*b));
            let fill = if k == "503" {
                "#ddd".to_owned()
            } else {
                colour(k)
            };
            let _ = write!(
                s,
                r#"<rect x="{xa:.1}" y="{y}" width="{:.1}" height="{}" fill="{fill}"><title>{}</title></rect><text x="{:.1}" y="{}" font-size="9">{}</text>"#,
                (xb - xa).max(1.0),
                LANE_H - 4.0,
                esc(k),
                xa + 2.0,
                y + 14.0,
                esc(k)
            );
        }
        y += LANE_H;
    }
    for lane in event_lanes {
        let _ = write!(s, r#"<text x="4" y="{}">{}</text>"#, y + 15.0, lane);
        for e in w
            .timeline
            .iter()
            .filter(|e| e.lane == lane && e.t >= from && e.t <= to)
        {
            let colour = if lane == Lane::Check { "red" } else { "#333" };
            let _ = write!(
                s,
                r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="{colour}" stroke-width="2"><title>{3}</title></line>"#,
                x(e.t),
                y,
                y + LANE_H - 4.0,
                esc(&format!("{} {}", e.t - crate::world::EPOCH, e.text))
            );
        }
        y += LANE_H;
    }
    let _ = write!(
        s,
        r#"<line x1="{0:.1}" x2="{0:.1}" y1="24" y2="{1}" stroke="red" stroke-dasharray="4"/>"#,
        x(at),
        y
    );
    s.push_str("</svg>\n");
    s
}
