//! `service`: validated, but not probed or fixed by this build; its resources are
//! reported unsupported and left alone.

use super::{Content, Kind};
use crate::engine::script::writer::Writer;
use crate::resolve::ResolvedResource;

pub(super) struct Service;

impl Kind for Service {
    fn supported(&self) -> bool {
        false
    }
    fn helpers(&self) -> &'static str {
        ""
    }
    fn write(&self, _w: &mut Writer, _i: usize, _r: &ResolvedResource, _content: Content) {}
}
