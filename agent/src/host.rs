//! Node host side.
