//! What a finished check says: the final status and the PhoneCheck fields of its body
//! (docs/results.md).
//!
//! ```text
//!  final 2xx/4xx/... with JSON Content-Type ──validate──► ResponseBody::Json ──field()──► check_id, code, …
//!  Location under redirect_url              ───────────► ResponseBody::RedirectQuery ─► same fields, from the query
//!  anything else                            ───────────► ResponseBody::Other (bounded raw copy, for the trace)
//! ```
//!
//! Fields are found on demand in the stored body, so nothing is copied; their `Display` decodes
//! JSON escapes or percent-encoding.

use core::fmt;

use crate::json;
use crate::url::{percent_decode, query_pairs};

/// What kind of final body the session holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// Not (yet) known: no final response.
    None,
    /// Declared JSON, captured whole.
    Json,
    /// The query string of a `redirect_url` Location.
    RedirectQuery,
    /// Any other body: a bounded prefix.
    Other,
}

/// Whether a `Content-Type` is one the result is read from (docs/results.md).
pub(crate) fn is_json_type(value: &[u8]) -> bool {
    media_type_is(
        value,
        &[
            b"application/json",
            b"application/hal+json",
            b"application/problem+json",
        ],
    )
}

/// Whether a `Content-Type` is an HTML page (a consent or login page, under
/// [`crate::Policy::html_is_interaction`]).
pub(crate) fn is_html_type(value: &[u8]) -> bool {
    media_type_is(value, &[b"text/html", b"application/xhtml+xml"])
}

/// Whether the media type of a `Content-Type` (parameters dropped) is one of `types`, in any
/// case.
fn media_type_is(value: &[u8], types: &[&[u8]]) -> bool {
    let media = value
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    types.iter().any(|t| media.eq_ignore_ascii_case(t))
}

/// A finished check: the final status and what the final response carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion<'s> {
    /// The final response's status (for a `redirect_url` stop, that redirect's status).
    pub http_status: u16,
    /// Requests made.
    pub hops: u8,
    /// The final body, as far as the engine understood it.
    pub body: ResponseBody<'s>,
    /// The fields found while the JSON body was validated.
    found: [Option<&'s str>; 5],
}

/// The final body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBody<'s> {
    /// A JSON object (validated), verbatim.
    Json(&'s str),
    /// The query string of the `redirect_url` Location (still percent-encoded).
    RedirectQuery(&'s str),
    /// A body that is not JSON: its first bytes, and whether more was dropped.
    Other {
        /// The kept bytes.
        raw: &'s [u8],
        /// Whether the body was longer than what was kept.
        truncated: bool,
    },
    /// No body.
    Empty,
}

/// The PhoneCheck fields a final response may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `check_id`
    CheckId,
    /// `code`: the one-time code.
    Code,
    /// `reference_id`
    ReferenceId,
    /// `error`
    Error,
    /// `error_description`
    ErrorDescription,
}

impl Field {
    /// All fields, in envelope order.
    pub const ALL: [Field; 5] = [
        Field::CheckId,
        Field::Code,
        Field::ReferenceId,
        Field::Error,
        Field::ErrorDescription,
    ];

    /// The JSON / query key.
    pub const fn key(self) -> &'static str {
        match self {
            Field::CheckId => "check_id",
            Field::Code => "code",
            Field::ReferenceId => "reference_id",
            Field::Error => "error",
            Field::ErrorDescription => "error_description",
        }
    }
}

/// A field's value as found: decode it with `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValue<'s> {
    /// The raw contents of a JSON string (escapes intact).
    Json(&'s str),
    /// A percent-encoded query value.
    Query(&'s str),
}

impl FieldValue<'_> {
    /// Writes the decoded value to `out` (what `Display` writes, without the formatter).
    pub fn write_to(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            FieldValue::Json(raw) => json::write_unescaped(raw, out),
            FieldValue::Query(raw) => percent_decode(raw, out),
        }
    }
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl<'s> Completion<'s> {
    /// Reads the final body as docs/results.md describes: a declared JSON body that validates is
    /// JSON; a `redirect_url` stop keeps its query; anything else is kept as raw bytes.
    pub(crate) fn interpret(
        http_status: u16,
        hops: u8,
        kind: BodyKind,
        body: &'s [u8],
        truncated: bool,
    ) -> Self {
        let raw = ResponseBody::Other {
            raw: body,
            truncated,
        };
        let mut found = [None; 5];
        let body = match kind {
            BodyKind::Json => {
                let valid = core::str::from_utf8(body).ok().filter(|text| {
                    json::scan_text(text, |k, v| {
                        if let Some(i) = Field::ALL.iter().position(|f| f.key() == k) {
                            if let Some(slot) = found.get_mut(i) {
                                if slot.is_none() {
                                    *slot = Some(v);
                                }
                            }
                        }
                    }) == Ok(true)
                });
                match valid {
                    Some(text) => ResponseBody::Json(text),
                    None => raw,
                }
            }
            BodyKind::RedirectQuery => {
                ResponseBody::RedirectQuery(core::str::from_utf8(body).unwrap_or(""))
            }
            BodyKind::Other if body.is_empty() => ResponseBody::Empty,
            BodyKind::Other => raw,
            BodyKind::None => ResponseBody::Empty,
        };
        Completion {
            http_status,
            hops,
            body,
            found,
        }
    }
    /// A PhoneCheck field from the JSON body or the `redirect_url` query.
    pub fn field(&self, field: Field) -> Option<FieldValue<'s>> {
        match self.body {
            ResponseBody::Json(_) => {
                let i = Field::ALL.iter().position(|f| *f == field)?;
                self.found.get(i).copied().flatten().map(FieldValue::Json)
            }
            // Only a stop at the redirect URL makes this body: without the feature, leave the
            // query reading out.
            ResponseBody::RedirectQuery(query) if cfg!(feature = "redirect-url") => {
                query_pairs(query)
                    .find(|(k, _)| *k == field.key())
                    .map(|(_, v)| FieldValue::Query(v))
            }
            ResponseBody::RedirectQuery(_) => None,
            ResponseBody::Other { .. } | ResponseBody::Empty => None,
        }
    }

    /// Whether the check produced a code: `check_id` and `code` are both present.
    pub fn has_code(&self) -> bool {
        self.field(Field::CheckId).is_some() && self.field(Field::Code).is_some()
    }
}
