//! The scripted chain both programs play (see `src/main.rs` for what it exercises): the server's
//! side, one response per request, and how much of a response arrives at a time.

/// The server's side of the chain, one response per request.
pub const REPLIES: [&[u8]; 5] = [
    b"HTTP/1.1 302 Found\r\nLocation: /two\r\nSet-Cookie: s=1; Path=/\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 302 Found\r\nLocation: http://mno.example/three?x=1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: ../four\r\nSet-Cookie: m=2; Expires=Wed, 01 Jan 2031 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: http://api.example/five\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
      11\r\n{\"check_id\":\"c1\",\r\n18\r\n\"code\":\"4711\",\"ttl\":300}\r\n0\r\n\r\n",
];

/// Bytes of a response fed per `Received`, as from a slow modem.
pub const PIECE: usize = 40;
