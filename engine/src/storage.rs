//! Storage lent by the caller: the session keeps only state, and borrows every buffer whose size
//! is a matter of profile. One compiled engine serves a 8 KiB firmware and a hosted SDK; the
//! sizes are the lengths of these slices, and running out of one is a typed error that names it.
//!
//! | area | holds | when too small |
//! |---|---|---|
//! | `url` | two URL slots (the current URL and the next), then the redirect prefix and the token, copied in at their end | `UrlError::TooLong` (in `InvalidUrl` / `BadLocation`), `Error::Storage` |
//! | `receive` | a response head that arrives in pieces, then the final body | `HeadTooLarge`, `FinalBodyTooLarge` |
//! | `cookies` | cookies packed back to back (24 bytes of bookkeeping each) | `CookieTooLarge` |
//! | `connections` | one [`Connection`] slot per connection kept open at once | `Error::Storage` when empty |
//!
//! Two presets are ready to use: [`Small`] for firmware (every area sized for the conformance
//! chains with 1 KiB URLs; Session and storage together stay under 8 KiB) and [`Hosted`] for the
//! Linux and Android drivers (8 KiB URLs, 16 KiB final body, 8 KiB of cookies, 4 connections).
//! Both have a `const fn new()`, so they can live in a `static` as well as on the stack or heap.

pub use crate::pool::Connection;

/// The buffers a session borrows. Build one from a preset, or from any slices of your own.
#[derive(Debug, Default)]
pub struct Buffers<'a> {
    /// Two URL slots, then the redirect prefix and token.
    pub url: &'a mut [u8],
    /// Response head staging, then the final body.
    pub receive: &'a mut [u8],
    /// The cookie jar.
    pub cookies: &'a mut [u8],
    /// Connection slots: how many connections may be open at once.
    pub connections: &'a mut [Connection],
}

/// Names an area of the caller's storage, in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// [`Buffers::url`].
    Url,
    /// [`Buffers::receive`].
    Receive,
    /// [`Buffers::cookies`].
    Cookies,
    /// [`Buffers::connections`].
    Connections,
}

impl Area {
    /// The area's name as in [`Buffers`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Area::Url => "url",
            Area::Receive => "receive",
            Area::Cookies => "cookies",
            Area::Connections => "connections",
        }
    }
}

macro_rules! preset {
    ($(#[$doc:meta])* $name:ident, url: $url:expr, receive: $recv:expr, cookies: $cookies:expr,
     connections: $conns:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            url: [u8; $url],
            receive: [u8; $recv],
            cookies: [u8; $cookies],
            connections: [Connection; $conns],
        }

        impl $name {
            /// Bytes of each URL slot when neither a token nor a redirect prefix is set.
            pub const URL_SLOT: usize = $url / 2;
            /// Bytes of the receive area.
            pub const RECEIVE: usize = $recv;
            /// Bytes of the cookie area.
            pub const COOKIES: usize = $cookies;
            /// Connection slots.
            pub const CONNECTIONS: usize = $conns;

            /// Zeroed storage.
            pub const fn new() -> Self {
                const EMPTY: Connection = Connection::new();
                $name {
                    url: [0; $url],
                    receive: [0; $recv],
                    cookies: [0; $cookies],
                    connections: [EMPTY; $conns],
                }
            }

            /// The buffers to hand to [`crate::Session::new`].
            pub fn buffers(&mut self) -> Buffers<'_> {
                Buffers {
                    url: &mut self.url,
                    receive: &mut self.receive,
                    cookies: &mut self.cookies,
                    connections: &mut self.connections,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

preset!(
    /// Firmware storage: two 1 KiB URL slots plus 256 bytes for a token or redirect prefix,
    /// a 2 KiB receive area (heads and final bodies up to 2 KiB), 1 KiB of cookies and one
    /// connection.
    Small, url: 2 * 1024 + 256, receive: 2 * 1024, cookies: 1024, connections: 1
);

preset!(
    /// Hosted storage (Linux, Android): two 8 KiB URL slots plus 4 KiB for the token and
    /// redirect prefix, a 16 KiB receive area, 8 KiB of cookies and four connections.
    Hosted, url: 2 * 8 * 1024 + 4 * 1024, receive: 16 * 1024, cookies: 8 * 1024, connections: 4
);
