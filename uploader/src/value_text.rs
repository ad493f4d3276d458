//! Attribute values as text, for destinations without the value's type:
//! Cloud Trace v2 has strings, integers and booleans only, so floats and
//! arrays are sent as text (the rule Google's own exporters follow for
//! floats), and labels of monitored resources are always text.
//!
//! | value | text |
//! |---|---|
//! | float | shortest text that reads back as the same `f64`: `1.0`, `1e300`, `NaN`, `Infinity`, `-Infinity` |
//! | string array | JSON array: `["a","b"]` |
//! | integer array | JSON array: `[1,-2]` |
//! | boolean array | JSON array: `[true,false]` |
//! | float array | JSON array of the float texts; `"NaN"`, `"Infinity"`, `"-Infinity"` quoted (JSON has no such numbers) |

use std::borrow::Cow;
use std::fmt::Write;

use tracespool_schema::AttributeValue;

/// The text of a float: the shortest that reads back as the same `f64`,
/// with a `.` or an exponent (`1.0`, `1e300`, `1e-300`); `NaN`,
/// `Infinity`, `-Infinity`.
pub fn float_text(f: f64) -> Cow<'static, str> {
    if f.is_nan() {
        Cow::Borrowed("NaN")
    } else if f == f64::INFINITY {
        Cow::Borrowed("Infinity")
    } else if f == f64::NEG_INFINITY {
        Cow::Borrowed("-Infinity")
    } else {
        // `Debug` is Rust's shortest round-trip text, in exponent form for
        // very large and very small magnitudes, and keeps `.0`.
        Cow::Owned(format!("{f:?}"))
    }
}

/// The JSON text of an array value; `None` for a value that is not an
/// array.
pub fn array_text(v: &AttributeValue) -> Option<String> {
    let mut out = String::from("[");
    match v {
        AttributeValue::StringArray(items) => {
            for (i, s) in items.iter().enumerate() {
                comma(&mut out, i);
                // A string always serialises.
                out.push_str(&serde_json::to_string(s.as_ref()).unwrap_or_default());
            }
        }
        AttributeValue::IntArray(items) => {
            for (i, n) in items.iter().enumerate() {
                comma(&mut out, i);
                let _ = write!(out, "{n}");
            }
        }
        AttributeValue::BoolArray(items) => {
            for (i, b) in items.iter().enumerate() {
                comma(&mut out, i);
                let _ = write!(out, "{b}");
            }
        }
        AttributeValue::FloatArray(items) => {
            for (i, f) in items.iter().enumerate() {
                comma(&mut out, i);
                let t = float_text(*f);
                if f.is_finite() {
                    out.push_str(&t);
                } else {
                    let _ = write!(out, "\"{t}\"");
                }
            }
        }
        _ => return None,
    }
    out.push(']');
    Some(out)
}

fn comma(out: &mut String, i: usize) {
    if i > 0 {
        out.push(',');
    }
}

/// Any value as text: strings as they are, numbers and booleans as their
/// text, arrays as [`array_text`].
pub fn value_text(v: &AttributeValue) -> Cow<'_, str> {
    match v {
        AttributeValue::String(s) => Cow::Borrowed(s),
        AttributeValue::Int(i) => Cow::Owned(i.to_string()),
        AttributeValue::Bool(b) => Cow::Owned(b.to_string()),
        AttributeValue::Float(f) => float_text(*f),
        other => Cow::Owned(array_text(other).unwrap_or_else(|| format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_json_text() {
        assert_eq!(
            array_text(&vec!["a", "\"q\"", "ü"].into()).unwrap(),
            r#"["a","\"q\"","ü"]"#
        );
        assert_eq!(
            array_text(&vec![1i64, -2, i64::MAX].into()).unwrap(),
            "[1,-2,9223372036854775807]"
        );
        assert_eq!(
            array_text(&vec![true, false].into()).unwrap(),
            "[true,false]"
        );
        assert_eq!(
            array_text(&vec![0.5, 1e300, f64::NAN, f64::NEG_INFINITY].into()).unwrap(),
            r#"[0.5,1e300,"NaN","-Infinity"]"#
        );
        assert_eq!(array_text(&Vec::<i64>::new().into()).unwrap(), "[]");
        assert_eq!(array_text(&1i64.into()), None);
        // Every array text with finite floats is valid JSON.
        for v in [
            AttributeValue::from(vec!["x\ny", "\u{1}"]),
            vec![1.5f64, -0.0].into(),
        ] {
            serde_json::from_str::<serde_json::Value>(&array_text(&v).unwrap()).unwrap();
        }
    }

    #[test]
    fn value_text_covers_every_kind() {
        assert_eq!(value_text(&"s".into()), "s");
        assert_eq!(value_text(&7i64.into()), "7");
        assert_eq!(value_text(&true.into()), "true");
        assert_eq!(value_text(&1.0f64.into()), "1.0");
        assert_eq!(value_text(&vec![1i64].into()), "[1]");
    }
}
