//! The response reader on arbitrary bytes: never panics, and reading the bytes in two pieces
//! (split where the first byte says) gives exactly what reading them whole gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonecheck_engine::response::{ResponseError, ResponseReader, Step};

fn read(input: &[u8], cut: usize) -> Result<(u16, Vec<u8>, bool), ResponseError> {
    let mut reader: ResponseReader<16> = ResponseReader::new(2048, false);
    let mut stage = [0u8; 2048];
    let mut body = Vec::new();
    let (a, b) = input.split_at(cut.min(input.len()));
    for piece in [a, b] {
        let mut rest = piece;
        loop {
            let (n, step) = reader.step(&mut stage, rest)?;
            match step {
                Step::NeedMore => break,
                Step::Body(data) => body.extend_from_slice(data),
                Step::Complete => return Ok((reader.status(), body, true)),
                Step::Head(_) | Step::Informational(_) => {}
            }
            rest = &rest[n..];
        }
    }
    reader.eof()?;
    Ok((reader.status(), body, reader.is_complete()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else { return };
    assert_eq!(read(input, usize::from(cut)), read(input, input.len()));
});
