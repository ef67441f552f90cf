//! The lab and the scale model.
pub mod sim;
