//! The pages, rendered on the server from the same data the JSON API
//! serves: plain HTML that works without JavaScript (the span details
//! panel and nothing else needs it), styled by one embedded stylesheet.

use std::fmt::Write as _;

use super::overview::Overview;
use super::quarantine::ReasonGroup;
use super::search::{Query, TracePage};
use super::trace_data::TraceView;
use crate::inspect::common::duration_text;
use crate::timefmt::rfc3339_secs;

/// Text for HTML (element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query string value.
fn url_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn time(ns: i64) -> String {
    rfc3339_secs(ns.max(0) as u64)
}

/// The page around `body`.
pub fn layout(title: &str, spool: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · tracespool</title><link rel=\"stylesheet\" href=\"/assets/view.css\">\
         <script src=\"/assets/view.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/\">tracespool</a><nav>\
         <a href=\"/\">Overview</a><a href=\"/traces\">Traces</a><a href=\"/quarantine\">Quarantine</a></nav>\
         <span class=\"spool\" title=\"the spool, read-only\">{spool}</span></header>\
         <main>{body}</main></body></html>",
        title = esc(title),
        spool = esc(spool),
    )
}

/// The overview page.
pub fn overview_page(o: &Overview) -> String {
    let mut b = String::new();
    let when = |ns: Option<u64>| ns.map_or("never".to_owned(), rfc3339_secs);
    let _ = write!(
        b,
        "<h1>Overview</h1><section class=\"cards\">\
         <div class=\"card\"><b id=\"pending\">{}</b> pending spans</div>\
         <div class=\"card\"><b>{}</b> quarantined</div>\
         <div class=\"card\">oldest pending <b>{}</b></div>\
         <div class=\"card {}\">last success <b>{}</b>{}</div></section>",
        o.pending_spans,
        o.quarantined_spans,
        o.oldest_pending_start_ns
            .map_or("-".to_owned(), rfc3339_secs),
        if o.failing { "bad" } else { "" },
        when(o.last_success_ns),
        match (&o.last_error, o.failing) {
            (Some(e), true) => format!("<div class=\"error\">last error: {}</div>", esc(e)),
            _ => String::new(),
        }
    );
    b.push_str(&chart(o));
    b.push_str("<h2>Health</h2><table class=\"figures\"><tr><th>figure</th><th>value</th><th>meaning</th></tr>");
    for f in &o.figures {
        let _ = write!(
            b,
            "<tr data-figure=\"{n}\"><td><code>{n}</code></td><td class=\"num\">{v}</td><td>{d}</td></tr>",
            n = esc(&f.name),
            v = f.value,
            d = esc(&f.description)
        );
    }
    b.push_str("</table>");
    if !o.quarantine_reasons.is_empty() {
        b.push_str("<h2>Quarantine</h2><ul>");
        for (reason, n) in &o.quarantine_reasons {
            let _ = write!(b, "<li>{n} × {}</li>", esc(reason));
        }
        b.push_str("</ul><p><a href=\"/quarantine\">Every quarantined span</a></p>");
    }
    layout("Overview", &o.spool, &b)
}

/// Spans per bucket as SVG bars.
fn chart(o: &Overview) -> String {
    if o.buckets.is_empty() {
        return "<p class=\"muted\">The spool holds no span.</p>".into();
    }
    let max = o.buckets.iter().map(|b| b.spans).max().unwrap_or(1).max(1);
    let (w, h) = (800.0, 120.0);
    let bw = w / o.buckets.len() as f64;
    let mut s = format!(
        "<h2>Spans per {}</h2><svg class=\"chart\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"spans per time\">",
        duration_text(o.bucket_ns)
    );
    for (i, b) in o.buckets.iter().enumerate() {
        let bh = h * b.spans as f64 / max as f64;
        let _ = write!(
            s,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"><title>{}: {} spans</title></rect>",
            i as f64 * bw,
            h - bh,
            (bw - 0.5).max(0.5),
            time(b.start_ns),
            b.spans
        );
    }
    let _ = write!(
        s,
        "</svg><div class=\"axis\"><span>{}</span><span>{}</span></div>",
        time(o.buckets[0].start_ns),
        time(o.buckets[o.buckets.len() - 1].start_ns + o.bucket_ns)
    );
    s
}

/// The form's current values, as the page was asked for them.
#[derive(Debug, Clone, Default)]
pub struct FormValues {
    pub service: String,
    pub name: String,
    pub min_duration: String,
    pub from: String,
    pub to: String,
    pub errors: bool,
    pub attr: String,
}

impl FormValues {
    /// The query string of these values (for the next page's link).
    fn query_string(&self) -> String {
        let mut q = Vec::new();
        for (k, v) in [
            ("service", &self.service),
            ("name", &self.name),
            ("min_duration", &self.min_duration),
            ("from", &self.from),
            ("to", &self.to),
            ("attr", &self.attr),
        ] {
            if !v.is_empty() {
                q.push(format!("{k}={}", url_value(v)));
            }
        }
        if self.errors {
            q.push("errors=on".into());
        }
        q.join("&")
    }
}

/// The traces page: the search form and a page of results.
pub fn traces_page(
    spool: &str,
    form: &FormValues,
    q: &Query,
    page: &TracePage,
    error: Option<&str>,
) -> String {
    let mut b = String::from("<h1>Traces</h1>");
    let field = |name: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<label>{label}<input name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            esc(value)
        )
    };
    let _ = write!(
        b,
        "<form id=\"search\" method=\"get\" action=\"/traces\">{}{}{}{}{}{}\
         <label class=\"check\"><input type=\"checkbox\" name=\"errors\"{}> errors only</label>\
         <button type=\"submit\">Search</button></form>",
        field("service", "service", &form.service, "checkout"),
        field("name", "span name contains", &form.name, "GET /"),
        field("min_duration", "at least", &form.min_duration, "250ms"),
        field("from", "from", &form.from, "2026-12-05T08:00:00Z"),
        field("to", "to", &form.to, "2026-12-05T09:00:00Z"),
        field("attr", "attribute", &form.attr, "http.route=/items"),
        if form.errors { " checked" } else { "" },
    );
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\">{}</p>", esc(e));
    }
    b.push_str(
        "<table id=\"traces\"><tr><th>root span</th><th>service</th><th>start</th>\
         <th class=\"num\">duration</th><th class=\"num\">spans</th><th class=\"num\">errors</th></tr>",
    );
    for t in &page.traces {
        let _ = write!(
            b,
            "<tr data-trace-id=\"{id}\"{err}><td><a href=\"/trace/{id}\">{name}</a>{missing}</td><td>{svc}</td>\
             <td>{start}</td><td class=\"num\">{dur}</td><td class=\"num\">{n}</td><td class=\"num\">{e}</td></tr>",
            id = t.trace_id,
            err = if t.errors > 0 { " class=\"error\"" } else { "" },
            name = esc(&t.root_name),
            missing = if t.root_in_spool { "" } else { " <small class=\"muted\">(root not in spool)</small>" },
            svc = esc(&t.service),
            start = time(t.start_ns),
            dur = duration_text(t.duration_ns),
            n = t.spans,
            e = t.errors
        );
    }
    b.push_str("</table>");
    if page.traces.is_empty() {
        b.push_str("<p class=\"muted\">No trace matches on this page of the spool.</p>");
    }
    let _ = write!(b, "<p class=\"muted\">{} spans read.", page.rows_read);
    if let Some(next) = page.next_before_row {
        let qs = form.query_string();
        let sep = if qs.is_empty() { "" } else { "&" };
        let _ = write!(
            b,
            " <a id=\"next\" href=\"/traces?{qs}{sep}before={next}&limit={}\">Older traces</a>",
            q.limit
        );
    }
    b.push_str("</p>");
    layout("Traces", spool, &b)
}

/// The trace page: the waterfall and the details panel.
pub fn trace_page(spool: &str, t: &TraceView) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>Trace <code>{id}</code></h1><p>{n} spans, {dur}, from {start}{errs}. \
         Download as <a href=\"/api/trace/{id}/export?format=cloudtrace\" download>Cloud Trace JSON</a> or \
         <a href=\"/api/trace/{id}/export?format=otlp-json\" download>OTLP JSON</a>.</p>",
        id = t.trace_id,
        n = t.spans.len(),
        dur = duration_text(t.duration_ns),
        start = time(t.start_ns),
        errs = if t.errors > 0 {
            format!(", <span class=\"error\">{} with an error</span>", t.errors)
        } else {
            String::new()
        }
    );
    let total = t.duration_ns.max(1) as f64;
    let pct = |ns: i64| (ns.max(0) as f64 * 100.0 / total).min(100.0);
    let _ = write!(
        b,
        "<div class=\"split\"><div id=\"waterfall\" data-trace-id=\"{}\">",
        t.trace_id
    );
    for s in &t.spans {
        let mut class = String::from("span");
        if s.error {
            class.push_str(" error");
        }
        if s.state == "quarantined" {
            class.push_str(" quarantined");
        }
        if s.parent_span_id.is_some() && !s.parent_in_spool {
            class.push_str(" orphan");
        }
        let left = pct(s.offset_ns);
        let width = pct(s.duration_ns).max(0.2).min(100.0 - left + 0.2);
        let _ = write!(
            b,
            "<div class=\"{class}\" data-span-id=\"{id}\" data-parent-span-id=\"{parent}\" data-depth=\"{d}\" tabindex=\"0\">\
             <div class=\"label\" style=\"padding-left:{pad}px\"><span class=\"name\">{name}</span> <span class=\"svc\">{svc}</span>{orphan}{q}</div>\
             <div class=\"lane\"><div class=\"bar\" style=\"left:{left:.3}%;width:{width:.3}%\"></div>",
            id = s.span_id,
            parent = s.parent_span_id.as_deref().unwrap_or(""),
            d = s.depth,
            pad = 4 + 14 * s.depth.min(40),
            name = esc(&s.name),
            svc = esc(&s.service),
            orphan = if s.parent_span_id.is_some() && !s.parent_in_spool {
                " <small class=\"muted\">(parent not in spool)</small>"
            } else {
                ""
            },
            q = if s.state == "quarantined" { " <small class=\"error\">quarantined</small>" } else { "" },
        );
        for e in &s.event_offsets_ns {
            let _ = write!(
                b,
                "<i class=\"tick\" style=\"left:{:.3}%\"></i>",
                pct(s.offset_ns + e)
            );
        }
        let _ = write!(
            b,
            "<span class=\"dur\">{}</span></div></div>",
            duration_text(s.duration_ns)
        );
    }
    b.push_str(
        "</div><aside id=\"details\" hidden><p class=\"muted\">Click a span to see all of it.</p></aside></div>",
    );
    layout(&format!("Trace {}", t.trace_id), spool, &b)
}

/// The quarantine page.
pub fn quarantine_page(spool: &str, groups: &[ReasonGroup]) -> String {
    let mut b = String::from("<h1>Quarantine</h1>");
    if groups.is_empty() {
        b.push_str("<p class=\"muted\">No quarantined span.</p>");
    }
    for g in groups {
        let _ = write!(
            b,
            "<section class=\"reason\"><h2>{} span{}: {}</h2><ul>",
            g.spans,
            if g.spans == 1 { "" } else { "s" },
            esc(&g.reason)
        );
        for s in &g.listed {
            let _ = write!(
                b,
                "<li data-span-id=\"{sid}\"><a href=\"/trace/{tid}#span-{sid}\">{name}</a> <small class=\"muted\">{start}, row {row}</small></li>",
                sid = s.span_id,
                tid = s.trace_id,
                name = esc(&s.name),
                start = time(s.start_ns),
                row = s.row
            );
        }
        if (g.listed.len() as u64) < g.spans {
            let _ = write!(
                b,
                "<li class=\"muted\">and {} more</li>",
                g.spans - g.listed.len() as u64
            );
        }
        b.push_str("</ul></section>");
    }
    layout("Quarantine", spool, &b)
}

/// A short message page.
pub fn message_page(spool: &str, title: &str, text: &str) -> String {
    layout(
        title,
        spool,
        &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_next_page_link_keeps_the_search() {
        let f = FormValues {
            name: "GET /a b".into(),
            errors: true,
            ..FormValues::default()
        };
        assert_eq!(f.query_string(), "name=GET%20%2Fa%20b&errors=on");
    }
}
