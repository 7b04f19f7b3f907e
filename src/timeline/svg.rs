//! A small typed SVG writer: an element is built from typed attributes (numbers, colours, anchors)
//! and written with its title or text; every string goes through [`crate::html::escape`] and every
//! number through [`num`], so the output is escaped and byte-stable by construction.
//!
//! Not the `svg` crate: its attributes are untyped name/value pairs formatted with `f64`'s
//! `Display` (long, unstable decimals such as `0.30000000000000004`), and it escapes on its own,
//! which would make a second escaper next to `crate::html`.

use crate::html::escape;
use std::fmt::Write;

/// The one place numbers are formatted: one decimal (byte-stable, compact), never `-0.0`.
pub fn num(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    format!("{v:.1}")
}

/// A colour, as CSS knows it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Colour(pub &'static str);

pub const RED: Colour = Colour("#d62728");
pub const ORANGE: Colour = Colour("#e08a00");
pub const GREY: Colour = Colour("#8a8a8a");
pub const DARK: Colour = Colour("#444444");
pub const MUTED: Colour = Colour("#555555");
pub const LIGHT: Colour = Colour("#dddddd");
pub const WHITE: Colour = Colour("#ffffff");

/// Where a text's `x` is: its start, middle or end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// One element: its name, its attributes (already written), and its content (escaped text and
/// a title, or nothing).
#[must_use = "an element is written with Writer::put or Writer::open"]
pub struct El {
    name: &'static str,
    attrs: String,
    body: String,
}

impl El {
    fn new(name: &'static str) -> El {
        El {
            name,
            attrs: String::new(),
            body: String::new(),
        }
    }

    fn px(mut self, key: &str, v: f64) -> El {
        let _ = write!(self.attrs, r#" {key}="{}""#, num(v));
        self
    }

    fn raw(mut self, key: &str, v: &str) -> El {
        let _ = write!(self.attrs, r#" {key}="{v}""#);
        self
    }

    pub fn group() -> El {
        El::new("g")
    }

    pub fn line(x1: f64, y1: f64, x2: f64, y2: f64) -> El {
        El::new("line")
            .px("x1", x1)
            .px("y1", y1)
            .px("x2", x2)
            .px("y2", y2)
    }

    pub fn rect(x: f64, y: f64, width: f64, height: f64) -> El {
        El::new("rect")
            .px("x", x)
            .px("y", y)
            .px("width", width)
            .px("height", height)
    }

    pub fn circle(cx: f64, cy: f64, r: f64) -> El {
        El::new("circle").px("cx", cx).px("cy", cy).px("r", r)
    }

    pub fn text(x: f64, y: f64, content: &str) -> El {
        let mut el = El::new("text").px("x", x).px("y", y);
        el.body = escape(content);
        el
    }

    pub fn polyline(points: &[(f64, f64)]) -> El {
        El::new("polyline").points(points).no_fill()
    }

    pub fn polygon(points: &[(f64, f64)]) -> El {
        El::new("polygon").points(points)
    }

    /// A path of absolute moves and lines: `M` to the first point of each stroke, `L` to the rest.
    pub fn path(strokes: &[&[(f64, f64)]]) -> El {
        let mut d = String::new();
        for stroke in strokes {
            for (i, (x, y)) in stroke.iter().enumerate() {
                let op = if i == 0 { 'M' } else { 'L' };
                let _ = write!(d, "{}{op}{} {}", sep(&d), num(*x), num(*y));
            }
        }
        El::new("path").raw("d", &d).no_fill()
    }

    fn points(self, points: &[(f64, f64)]) -> El {
        let mut s = String::with_capacity(points.len() * 12);
        for (x, y) in points {
            let _ = write!(s, "{}{},{}", sep(&s), num(*x), num(*y));
        }
        self.raw("points", &s)
    }

    pub fn class(self, class: &'static str) -> El {
        self.raw("class", class)
    }

    /// A `data-*` attribute carrying text from the trace (escaped).
    pub fn data(self, key: &'static str, value: &str) -> El {
        self.raw(&format!("data-{key}"), &escape(value))
    }

    pub fn no_fill(self) -> El {
        self.raw("fill", "none")
    }

    pub fn fill(self, c: Colour) -> El {
        self.raw("fill", c.0)
    }

    pub fn fill_opacity(self, v: f64) -> El {
        self.raw("fill-opacity", &format!("{v:.2}"))
    }

    pub fn stroke(self, c: Colour) -> El {
        self.raw("stroke", c.0)
    }

    pub fn stroke_width(self, v: f64) -> El {
        self.px("stroke-width", v)
    }

    pub fn stroke_opacity(self, v: f64) -> El {
        self.raw("stroke-opacity", &format!("{v:.2}"))
    }

    /// Dashes of `on` and gaps of `off` units.
    pub fn dashed(self, on: f64, off: f64) -> El {
        self.raw("stroke-dasharray", &format!("{} {}", num(on), num(off)))
    }

    pub fn font_size(self, v: f64) -> El {
        self.px("font-size", v)
    }

    pub fn bold(self) -> El {
        self.raw("font-weight", "bold")
    }

    pub fn anchor(self, a: Anchor) -> El {
        self.raw("text-anchor", a.as_str())
    }

    /// A white outline under a text's letters, so it stays readable over lines.
    pub fn halo(self) -> El {
        self.raw("stroke", WHITE.0)
            .px("stroke-width", 3.0)
            .raw("paint-order", "stroke")
    }

    /// A tooltip: the text shown when hovering over the element.
    pub fn title(mut self, text: &str) -> El {
        let _ = write!(self.body, "<title>{}</title>", escape(text));
        self
    }
}

fn sep(s: &str) -> &'static str {
    if s.is_empty() {
        ""
    } else {
        " "
    }
}

/// Writes elements, one a line, and keeps groups balanced.
#[derive(Default)]
pub struct Writer {
    out: String,
    open: Vec<&'static str>,
}

impl Writer {
    /// Starts a document `width` by `height` units with a white background.
    pub fn document(width: f64, height: f64) -> Writer {
        let mut w = Writer::default();
        let mut svg = El::new("svg")
            .raw("xmlns", "http://www.w3.org/2000/svg")
            .px("width", width)
            .px("height", height);
        svg = svg.raw("viewBox", &format!("0 0 {} {}", num(width), num(height)));
        w.open(svg.raw("font-family", "sans-serif").font_size(12.0));
        w.put(El::rect(0.0, 0.0, width, height).fill(WHITE));
        w
    }

    /// Writes a whole element.
    pub fn put(&mut self, el: El) {
        let El { name, attrs, body } = el;
        if body.is_empty() {
            let _ = writeln!(self.out, "<{name}{attrs}/>");
        } else {
            let _ = writeln!(self.out, "<{name}{attrs}>{body}</{name}>");
        }
    }

    /// Opens an element whose children follow, until [`Writer::close`].
    pub fn open(&mut self, el: El) {
        let El { name, attrs, body } = el;
        let _ = writeln!(self.out, "<{name}{attrs}>{body}");
        self.open.push(name);
    }

    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            let _ = writeln!(self.out, "</{name}>");
        }
    }

    /// Closes whatever is open and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_escape_text_and_format_numbers_once() {
        let mut w = Writer::default();
        w.open(El::group().class("lane").data("host", "<a&b>"));
        w.put(
            El::line(0.1 + 0.2, -0.0, 1.0, 2.24)
                .stroke(RED)
                .title("\"x\""),
        );
        w.put(El::text(1.0, 2.0, "a<b").anchor(Anchor::End));
        w.put(El::path(&[&[(0.0, 0.0), (1.0, 1.0)], &[(2.0, 0.0)]]));
        let out = w.finish();
        assert_eq!(
            out,
            "<g class=\"lane\" data-host=\"&lt;a&amp;b&gt;\">\n\
             <line x1=\"0.3\" y1=\"0.0\" x2=\"1.0\" y2=\"2.2\" stroke=\"#d62728\"><title>&quot;x&quot;</title></line>\n\
             <text x=\"1.0\" y=\"2.0\" text-anchor=\"end\">a&lt;b</text>\n\
             <path d=\"M0.0 0.0 L1.0 1.0 M2.0 0.0\" fill=\"none\"/>\n\
             </g>\n"
        );
    }
}
