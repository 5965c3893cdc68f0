//! Match fields (OXM/NXM TLVs) and the canonical [`Match`].

pub mod fields;
pub(crate) mod matching;

pub use fields::{field_by_name, Field, FieldDef, Format, Prereq, FIELDS};
pub use matching::{ct_state, Match, MatchBuilder, MatchError, OxmField, TCP_FLAG_NAMES};
