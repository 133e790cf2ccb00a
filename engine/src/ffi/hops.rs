//! The optional hop log of a C session: hop records kept in slots and URL bytes lent by the
//! caller, for the debug envelope. The C counterpart of [`crate::HopLog`], sized at run time.

use crate::trace::{HopInfo, HopRecord, HopSource};

/// One kept hop: its record and where its URL is in the URL bytes.
#[derive(Debug, Default)]
pub(crate) struct HopSlot {
    info: HopInfo,
    url_start: usize,
    url_len: usize,
}

/// Hop records in caller memory.
#[derive(Debug)]
pub(crate) struct HopArea {
    slots: &'static mut [HopSlot],
    urls: &'static mut [u8],
    len: usize,
    url_used: usize,
    not_recorded: u32,
}

impl HopArea {
    pub(crate) fn new(slots: &'static mut [HopSlot], urls: &'static mut [u8]) -> Self {
        HopArea {
            slots,
            urls,
            len: 0,
            url_used: 0,
            not_recorded: 0,
        }
    }

    /// Keeps a copy of `record`, or counts it when a slot or the URL bytes run out.
    pub(crate) fn push(&mut self, record: &HopRecord<'_>) {
        let url = record.url.as_bytes();
        let start = self.url_used;
        let end = start.saturating_add(url.len());
        let (Some(slot), Some(dst)) = (self.slots.get_mut(self.len), self.urls.get_mut(start..end))
        else {
            self.not_recorded = self.not_recorded.saturating_add(1);
            return;
        };
        dst.copy_from_slice(url);
        slot.info.clone_from(record.info);
        slot.url_start = start;
        slot.url_len = url.len();
        self.len += 1;
        self.url_used = end;
    }

    pub(crate) fn kept(&self) -> usize {
        self.len
    }
}

impl HopSource for HopArea {
    fn hop_count(&self) -> usize {
        self.len
    }

    fn hop(&self, index: usize) -> Option<HopRecord<'_>> {
        if index >= self.len {
            return None;
        }
        let slot = self.slots.get(index)?;
        let url = crate::HopUrl::new(
            self.urls
                .get(slot.url_start..slot.url_start + slot.url_len)
                .unwrap_or_default(),
        );
        Some(HopRecord {
            url,
            info: &slot.info,
        })
    }

    fn not_recorded(&self) -> u32 {
        self.not_recorded
    }
}
