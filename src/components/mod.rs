//! Pieces the pages share.

pub mod form;
pub mod guard;
pub mod islands;
pub mod nav;
pub mod providers;
